import type { CommandTransition, DeviceCommand } from '../domain/device-command';

export interface CommandPage {
  readonly items: readonly DeviceCommand[];
  /** Opaque; pass back as `cursor` for the next page. Absent on the last page. */
  readonly nextCursor?: string;
}

/** Where commands and their audit live: one record per command, under its device. */
export interface CommandStore {
  /** Writes a new record; the id is fresh, so an existing one is a bug (it throws). */
  create(command: DeviceCommand): Promise<void>;
  get(deviceId: string, commandId: string): Promise<DeviceCommand | undefined>;
  /** The device's commands, newest first, a page of at most `limit`. */
  list(deviceId: string, query: { readonly limit: number; readonly cursor?: string }): Promise<CommandPage>;
  /**
   * Applies the transition if the stored status still allows it (domain/device-command.ts
   * mayTransition): true when it was written, false when the record is missing or already past it.
   */
  transition(deviceId: string, commandId: string, transition: CommandTransition): Promise<boolean>;
}
