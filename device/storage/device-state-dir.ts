/**
 * Where a device keeps what must survive a restart, all under one directory:
 *
 * ```
 * boot.json                active slot, pending (trial) slot, trial-boot counter
 * slots/A|B/image.bin      the firmware image
 * slots/A|B/meta.json      its version, release, size and SHA-256
 * downloads/<sha256>.part  the artifact being downloaded (kept across restarts to resume)
 * job.json                 the OTA job in progress, its stage, next seq, last stage event, outcome
 * finished-jobs.json       the last jobs finished, to answer a repeated job with its result
 * outbox.json              OTA events and job updates not yet delivered (store-and-forward)
 * installed-components.json  what runs, per component: version, SHA-256, handler, release
 * update-modules/          the update modules' work dirs and per-component handler state
 * ```
 */
import { join } from 'node:path';

export type Slot = 'A' | 'B';

export const otherSlot = (slot: Slot): Slot => (slot === 'A' ? 'B' : 'A');

export class DeviceStateDir {
  constructor(readonly root: string) {}

  get bootFile() {
    return join(this.root, 'boot.json');
  }
  slotDir(slot: Slot) {
    return join(this.root, 'slots', slot);
  }
  slotImage(slot: Slot) {
    return join(this.slotDir(slot), 'image.bin');
  }
  slotMeta(slot: Slot) {
    return join(this.slotDir(slot), 'meta.json');
  }
  get downloadsDir() {
    return join(this.root, 'downloads');
  }
  partialDownload(sha256: string) {
    return join(this.downloadsDir, `${sha256}.part`);
  }
  get jobFile() {
    return join(this.root, 'job.json');
  }
  get finishedJobsFile() {
    return join(this.root, 'finished-jobs.json');
  }
  get outboxFile() {
    return join(this.root, 'outbox.json');
  }
  get installedComponentsFile() {
    return join(this.root, 'installed-components.json');
  }
  /** `UpdateModules`' own dir: `work/<component>/`, `components/<component>/`. */
  get updateModulesDir() {
    return join(this.root, 'update-modules');
  }
  /** The TUF root this device trusts and tuf-js's cache of verified metadata. */
  get trustDir() {
    return join(this.root, 'trust');
  }
  get trustRootFile() {
    return join(this.trustDir, 'root.json');
  }
}
