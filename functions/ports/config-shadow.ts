/** The device's `config` named shadow, as the backend writes it. */
export interface ConfigShadow {
  /**
   * Makes the shadow's desired state exactly `desired` (fields it had that `desired` lacks are
   * removed). Idempotent.
   */
  writeDesired(deviceId: string, desired: Readonly<Record<string, unknown>>): Promise<void>;
}
