/** Something that, at a command's expiry, calls the expiry use case for it once. */
export interface CommandExpiryScheduler {
  /** Schedules the expiry of one command at `at`; idempotent for the same command. */
  schedule(deviceId: string, commandId: string, at: Date): Promise<void>;
}
