import type { AllowlistEntry } from '../../contract/provisioning';
import type { AllowlistRecord, ClaimOutcome } from '../domain/provisioning-claim';

/** What one upload did to each serial. */
export interface AllowlistUploadResult {
  /** New, or replaced while still unclaimed. */
  readonly stored: readonly string[];
  /** Already claimed by a device: left as they are (a claimed serial cannot move or be reused). */
  readonly alreadyClaimed: readonly string[];
}

/**
 * The serials an operator allows to provision by claim. Reads and writes are per serial, so
 * neither grows with the allowlist (100k entries).
 */
export interface ProvisioningAllowlist {
  /** Stores the entries; one that is already claimed is left unchanged and reported. */
  putEntries(entries: readonly AllowlistEntry[], now: Date): Promise<AllowlistUploadResult>;
  getEntry(serial: string): Promise<AllowlistRecord | undefined>;
  /**
   * Claims the serial for the certificate in one conditional write: of two claims of one serial
   * by different certificates, exactly one wins. The winning certificate may claim again.
   */
  claim(serial: string, certificateId: string, now: Date): Promise<ClaimOutcome>;
}
