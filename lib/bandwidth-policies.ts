/**
 * The bandwidth policy is now the `bandwidthPolicy` configuration key: its routes, functions and
 * grants live in lib/device-configuration.ts. This module keeps the grant helper's old import path.
 */
export { grantShadowUpdates } from './device-configuration';
