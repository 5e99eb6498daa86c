import * as z from '../../../contract/zod-mini';

/**
 * Body of `PUT /trust/root`: TUF root metadata the operators signed offline. Only its envelope is
 * checked here; the trust publisher checks the rest as a device would.
 */
export const TrustRootBody = z.strictObject({
  signed: z.record(z.string(), z.unknown()),
  signatures: z.array(z.strictObject({ keyid: z.string(), sig: z.string() })).check(z.minLength(1)),
});
