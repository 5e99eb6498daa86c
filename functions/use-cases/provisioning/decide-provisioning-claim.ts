import { allow, type ClaimDecision, claimedSerial, refuse } from '../../domain/provisioning-claim';
import type { Clock } from '../../ports/clock';
import type { ProvisioningAllowlist } from '../../ports/provisioning-allowlist';

/** What the pre-provisioning hook reads of AWS IoT's event (payload version 2020-04-01). */
export interface ClaimRequest {
  /** The certificate RegisterThing would activate: the one made from the device's CSR. */
  readonly certificateId: string;
  /** The RegisterThing request's parameters, as the device sent them. */
  readonly parameters: unknown;
}

/**
 * Decides one RegisterThing request (the pre-provisioning hook):
 * 1. a request without a well-formed serial is refused, and nothing is read or written;
 * 2. the serial is claimed for the request's certificate in one conditional write, so of two
 *    devices claiming one serial only one is allowed; the same certificate asking again (its
 *    answer was lost) is allowed again;
 * 3. a serial not on the allowlist, or claimed by another certificate, is refused;
 * 4. otherwise provisioning is allowed, with the allowlist entry's site, region and hardware type
 *    as the template's parameters.
 * A refusal writes nothing: AWS IoT then creates no thing and leaves the certificate inactive.
 */
export const makeDecideProvisioningClaim =
  (ports: { readonly allowlist: ProvisioningAllowlist; readonly clock: Clock }) =>
  async (request: ClaimRequest): Promise<ClaimDecision> => {
    const parsed = claimedSerial(request.parameters);
    if ('problem' in parsed) return refuse('malformed-request', parsed.problem);
    const { serial } = parsed;
    const outcome = await ports.allowlist.claim(serial, request.certificateId, ports.clock.now());
    switch (outcome.kind) {
      case 'not-listed':
        return refuse('not-on-allowlist', `serial ${serial} is not on the provisioning allowlist`, serial);
      case 'claimed-by-another-certificate':
        return refuse('serial-already-used', `serial ${serial} was already provisioned`, serial);
      default:
        return allow(outcome.entry);
    }
  };
