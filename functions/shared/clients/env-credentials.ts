/**
 * Lambda bundles take this module in place of `@aws-sdk/credential-provider-node` (an esbuild
 * alias in lib/edgeops-function.ts). Lambda, and local AWS's Lambda workers, hand a function its
 * role's credentials in environment variables, which is the first place the SDK's default chain
 * looks; the rest of the chain (shared config files, SSO, web identity, process, container and
 * instance metadata, with the STS and SSO clients behind them) only costs a bundle about 130 KB
 * and 30 ms of cold-start CPU. Code run outside a bundle (tests, scripts) keeps the full chain.
 */
import { type FromEnvInit, fromEnv } from '@aws-sdk/credential-provider-env';

/** What the SDK clients' runtime config calls for their default credentials. */
export const defaultProvider = (init?: FromEnvInit) => fromEnv(init);
