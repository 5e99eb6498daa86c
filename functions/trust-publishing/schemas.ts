import * as z from '../../contract/zod-mini';

/** What the trust publisher is asked to do (V1): by the rollout state machine, the API, a schedule. */
export const TrustRequestV1 = z.discriminatedUnion('action', [
  /** Sign a rollout's images, deltas and rollback before its first wave. */
  z.strictObject({
    action: z.literal('sign-rollout'),
    rolloutId: z.string().check(z.regex(/^ro-[0-9a-f]{12}$/)),
  }),
  /** Re-sign targets, snapshot and timestamp before they expire (every few hours). */
  z.strictObject({ action: z.literal('refresh') }),
  /** Take a new root the operators signed offline, and republish with the keys it names. */
  z.strictObject({ action: z.literal('set-root'), root: z.record(z.string(), z.unknown()) }),
  /** The online public keys the stack holds, for the operators' root ceremony. */
  z.strictObject({ action: z.literal('online-keys') }),
]);
export type TrustRequestV1 = z.infer<typeof TrustRequestV1>;

/** A refusal an operator can fix (bad root, missing key) comes back as `ok: false`, not a throw. */
export type TrustResponseV1 =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: string };
