import type { JobDocumentV2 } from '../domain/ota-contract';
import type { JobExecutionStatus } from '../domain/rollout';

/** The one IoT job of a wave: created for its devices, watched, and canceled. */
export interface JobDispatcher {
  /** Creates the job (idempotent for the same jobId) for exactly `deviceIds`. */
  startJob(jobId: string, deviceIds: readonly string[], document: JobDocumentV2): Promise<void>;
  /** Device id → status of its execution of the job. */
  executionStatuses(jobId: string): Promise<Map<string, JobExecutionStatus>>;
  /** Cancels executions that have not started; running ones finish (AWS IoT semantics). */
  cancelJob(jobId: string, reason: string): Promise<void>;
}
