/** Runs a rollout's waves (a Step Functions state machine on AWS). */
export interface RolloutOrchestrator {
  start(rolloutId: string): Promise<void>;
  /** Stops the run at once (abort); cleanup is the caller's. A run that already ended is fine. */
  stop(rolloutId: string, reason: string): Promise<void>;
  /**
   * Lets a run that waits on `taskToken` (pause, approval) go on. `gone` when nothing waits on
   * that token any more: the run ended (stopped, failed, timed out) while it was parked.
   */
  proceed(taskToken: string): Promise<'resumed' | 'gone'>;
}
