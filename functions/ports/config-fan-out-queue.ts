import type { SharedConfigScope } from './device-config-store';

/**
 * One page of a fan-out: deliver the merged configuration to the devices of `scope` from
 * `cursor`; or, for a device scope, to that one device (a device just registered).
 */
export interface ConfigFanOutMessage {
  readonly scope: SharedConfigScope | { readonly layer: 'device'; readonly deviceId: string };
  readonly cursor?: string;
  /** How many times this page was started again because a layer changed while it ran. */
  readonly restarts?: number;
}

/** Hands pages of a fan-out to the worker (one message per page). */
export interface ConfigFanOutQueue {
  enqueue(message: ConfigFanOutMessage): Promise<void>;
}
