/** Runs a rollout's waves (a Step Functions state machine on AWS). */
export interface RolloutOrchestrator {
  start(rolloutId: string): Promise<void>;
  /** Stops the run at once (abort); cleanup is the caller's. */
  stop(rolloutId: string, reason: string): Promise<void>;
  /** Lets a run that waits on `taskToken` (pause, approval) go on. */
  proceed(taskToken: string): Promise<void>;
}
