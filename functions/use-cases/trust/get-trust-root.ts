/**
 * Reading the published root, apart from publish-trust.ts: registration, the trust-root API and
 * the rollout steps need only this, not the TUF models that publishing signs with.
 */
import type { TrustFiles, TrustStore } from '../../ports/trust-repository';

export const rootFileName = (version: number) => `${version}.root.json`;

/** The newest root, as a device receives it at registration; undefined before the ceremony. */
export const makeGetTrustRoot =
  ({ store, files }: { readonly store: TrustStore; readonly files: TrustFiles }) =>
  async (): Promise<unknown | undefined> => {
    const state = await store.getState();
    if (!state) return undefined;
    const bytes = await files.get(rootFileName(state.rootVersion));
    return bytes ? JSON.parse(bytes.toString('utf8')) : undefined;
  };
