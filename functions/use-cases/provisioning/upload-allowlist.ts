import type { AllowlistEntry } from '../../../contract/provisioning';
import { ValidationError } from '../../domain/errors';
import { duplicateSerials, MAX_ALLOWLIST_BATCH } from '../../domain/provisioning-claim';
import type { Clock } from '../../ports/clock';
import type { AllowlistUploadResult, ProvisioningAllowlist } from '../../ports/provisioning-allowlist';

/**
 * Uploads one batch of the allowlist:
 * 1. refuses a batch that is empty, larger than MAX_ALLOWLIST_BATCH, or names a serial twice
 *    (nothing is written then);
 * 2. stores each entry, leaving claimed ones as they are, and says which were which.
 * Uploading the same batch again is harmless: it is how an operator retries a failed upload.
 */
export const makeUploadAllowlist =
  (ports: { readonly allowlist: ProvisioningAllowlist; readonly clock: Clock }) =>
  async (entries: readonly AllowlistEntry[]): Promise<AllowlistUploadResult> => {
    if (entries.length === 0)
      throw new ValidationError('Invalid request body: entries: must have at least 1 entry', [
        { field: 'entries', message: 'must have at least 1 entry' },
      ]);
    if (entries.length > MAX_ALLOWLIST_BATCH)
      throw new ValidationError(
        `Invalid request body: entries: at most ${MAX_ALLOWLIST_BATCH} per upload; upload in batches`,
        [{ field: 'entries', message: `at most ${MAX_ALLOWLIST_BATCH} per upload` }],
      );
    const duplicates = duplicateSerials(entries);
    if (duplicates.length > 0)
      throw new ValidationError(
        `Invalid request body: entries: serials listed twice: ${duplicates.join(', ')}`,
        [{ field: 'entries', message: `serials listed twice: ${duplicates.join(', ')}` }],
      );
    return ports.allowlist.putEntries(entries, ports.clock.now());
  };
