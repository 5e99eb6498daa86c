/**
 * What a rollout's downloads cost and what deltas saved, from what devices reported in their
 * OTA events (`bytesDownloaded`, `transfer`). Computed on read, like the funnels.
 */
import type { DeviceExecution } from './rollout';

export interface TransferStats {
  /** Bytes devices fetched (images and deltas), as last reported. */
  readonly sent: number;
  /**
   * Σ (image size − bytes fetched) over devices that took a delta and finished downloading.
   * Not clamped: a device that fetched more than the image (e.g. retried a delta) lowers it.
   */
  readonly saved: number;
  readonly deltaDevices: number;
  readonly fullDevices: number;
}

/** Stages a device reaches only after its download completed. */
const PAST_DOWNLOAD: readonly DeviceExecution['stage'][] = [
  'installing',
  'rebooting',
  'healthy',
  'rolled-back',
];

const EMPTY: TransferStats = { sent: 0, saved: 0, deltaDevices: 0, fullDevices: 0 };

function add(stats: TransferStats, execution: DeviceExecution): TransferStats {
  const { bytesDownloaded = 0, transfer, stage } = execution;
  const tookDelta = transfer?.mode === 'delta';
  return {
    sent: stats.sent + bytesDownloaded,
    saved:
      stats.saved +
      (tookDelta && PAST_DOWNLOAD.includes(stage) && execution.bytesDownloaded !== undefined
        ? transfer.imageBytes - bytesDownloaded
        : 0),
    deltaDevices: stats.deltaDevices + (tookDelta ? 1 : 0),
    fullDevices: stats.fullDevices + (transfer?.mode === 'full' ? 1 : 0),
  };
}

/** Bytes sent and saved for the whole rollout and for each of its `waveCount` waves. */
export function transferStatsOf(
  waveCount: number,
  executions: readonly DeviceExecution[],
): { readonly total: TransferStats; readonly waves: readonly TransferStats[] } {
  const waves = Array.from({ length: waveCount }, () => EMPTY);
  let total = EMPTY;
  for (const execution of executions) {
    const wave = waves[execution.waveIndex];
    if (wave === undefined) continue;
    waves[execution.waveIndex] = add(wave, execution);
    total = add(total, execution);
  }
  return { total, waves };
}
