/**
 * What a rollout's downloads cost and what deltas saved, from what devices reported in their
 * OTA events (`bytesDownloaded`, `transfer`). Kept per wave by the event path, with the funnel
 * (each execution's contribution is in wave-counters.ts).
 */

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
