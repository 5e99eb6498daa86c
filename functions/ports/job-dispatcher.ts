import type { JobDocument } from '../../contract/ota';

/**
 * The one IoT job of a wave: created for its devices, watched, canceled, and ended. A wave's
 * devices are grouped for its job only while the wave runs (AWS IoT lets a thing be in at most
 * 10 thing groups), so `endWave` must follow every wave's end.
 */
export interface JobDispatcher {
  /** Makes the (empty) grouping the wave's job will target; idempotent. */
  prepareWave(jobId: string): Promise<void>;
  /** Adds devices to the wave's grouping, a bounded page at a time; idempotent. */
  addToWave(jobId: string, deviceIds: readonly string[]): Promise<void>;
  /** Creates the job (idempotent for the same jobId) for the devices in the wave's grouping. */
  startJob(jobId: string, document: JobDocument): Promise<void>;
  /**
   * Cancels executions that have not started; running ones finish (AWS IoT semantics). A job
   * that already completed, was canceled or is gone is left as it is: that is not an error.
   */
  cancelJob(jobId: string, reason: string): Promise<void>;
  /**
   * Lets go of the wave's devices: removes the grouping the job was created from, so they do
   * not accumulate one group per wave. The job's executions stay (the job is a snapshot).
   * Idempotent: a wave already ended (or never started) is fine.
   */
  endWave(jobId: string): Promise<void>;
}
