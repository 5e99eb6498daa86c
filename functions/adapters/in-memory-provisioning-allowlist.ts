import type { AllowlistEntry } from '../../contract/provisioning';
import type { AllowlistRecord, ClaimOutcome } from '../domain/provisioning-claim';
import type { AllowlistUploadResult, ProvisioningAllowlist } from '../ports/provisioning-allowlist';

/** ProvisioningAllowlist in memory, with the same rules as the DynamoDB one, for unit tests. */
export class InMemoryProvisioningAllowlist implements ProvisioningAllowlist {
  readonly entries = new Map<string, AllowlistRecord>();

  async putEntries(entries: readonly AllowlistEntry[], now: Date): Promise<AllowlistUploadResult> {
    const stored: string[] = [];
    const alreadyClaimed: string[] = [];
    for (const entry of entries) {
      if (this.entries.get(entry.serial)?.claim) {
        alreadyClaimed.push(entry.serial);
        continue;
      }
      this.entries.set(entry.serial, { ...entry, uploadedAt: now.toISOString() });
      stored.push(entry.serial);
    }
    return { stored, alreadyClaimed };
  }

  async getEntry(serial: string): Promise<AllowlistRecord | undefined> {
    return this.entries.get(serial);
  }

  async claim(serial: string, certificateId: string, now: Date): Promise<ClaimOutcome> {
    const entry = this.entries.get(serial);
    if (!entry) return { kind: 'not-listed' };
    if (entry.claim)
      return entry.claim.certificateId === certificateId
        ? { kind: 'already-claimed-by-this-certificate', entry }
        : { kind: 'claimed-by-another-certificate' };
    const claimed = { ...entry, claim: { certificateId, claimedAt: now.toISOString() } };
    this.entries.set(serial, claimed);
    return { kind: 'claimed', entry: claimed };
  }
}
