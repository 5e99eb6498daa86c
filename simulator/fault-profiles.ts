/**
 * Simulated device faults for the fleet simulator: the profile names, their deterministic
 * assignment from a seed and a mix, and the link shapers that make a download slow, cut or
 * corrupt. The faults that need the agent itself (crash, going offline) live in the simulator.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LinkShaper } from '../device/ota/artifact-download';

export const FAULT_PROFILES = [
  /** Updates as it should. */
  'healthy',
  /** The download is cut on every attempt and arrives corrupted: the hash check fails. */
  'download-failure',
  /** The new version boots but fails its health check: rolled back. */
  'unhealthy-after-boot',
  /** The new version crashes before confirming, every trial boot: once they are spent (3 by default) the device reverts. */
  'crash-loop',
  /** Throttled download. */
  'slow-link',
  /** Goes offline when the download starts, comes back later; events arrive after reconnect. */
  'offline',
] as const;
export type FaultProfile = (typeof FAULT_PROFILES)[number];

/** Relative weights, e.g. `{ healthy: 0.9, 'unhealthy-after-boot': 0.1 }`. */
export type FaultMix = Readonly<Partial<Record<FaultProfile, number>>>;

export interface FaultAssignment {
  readonly seed: string;
  /** @default { healthy: 1 } */
  readonly mix?: FaultMix;
  /** Explicit profiles by device id; they win over the mix. */
  readonly byDevice?: Readonly<Record<string, FaultProfile>>;
}

export function isFaultProfile(value: string): value is FaultProfile {
  return (FAULT_PROFILES as readonly string[]).includes(value);
}

/** The same seed, mix and device id always give the same profile, wherever it runs. */
export function assignFaultProfile(deviceId: string, assignment: FaultAssignment): FaultProfile {
  const explicit = assignment.byDevice?.[deviceId];
  if (explicit) return explicit;
  const mix = assignment.mix ?? { healthy: 1 };
  const weighted = FAULT_PROFILES.map((profile) => [profile, mix[profile] ?? 0] as const).filter(
    ([, weight]) => weight > 0,
  );
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  if (!(total > 0)) throw new Error('A fault mix needs at least one profile with a positive weight');
  let point = (uniformHash(`${assignment.seed}\u0000${deviceId}`) / 2 ** 32) * total;
  for (const [profile, weight] of weighted) {
    if (point < weight) return profile;
    point -= weight;
  }
  return weighted.at(-1)?.[0] ?? 'healthy';
}

/** FNV-1a with a final avalanche, so ids differing in one character land far apart. */
function uniformHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Delivers at most `bytesPerSecond`, in slices of a tenth of a second. */
export function throttledLink(bytesPerSecond: number): LinkShaper {
  const slice = Math.max(1, Math.floor(bytesPerSecond / 10));
  return async function* (body, { signal }) {
    for await (const chunk of body) {
      for (let offset = 0; offset < chunk.length; offset += slice) {
        const part = chunk.subarray(offset, offset + slice);
        await sleep((part.length / bytesPerSecond) * 1000, undefined, signal ? { signal } : {});
        yield part;
      }
    }
  };
}

/** Every attempt delivers `afterBytes` bytes, then the connection drops. */
export function cutLink(afterBytes: number): LinkShaper {
  return async function* (body) {
    let passed = 0;
    for await (const chunk of body) {
      const room = afterBytes - passed;
      if (chunk.length >= room) {
        if (room > 0) yield chunk.subarray(0, room);
        throw new Error(`link cut after ${afterBytes} bytes`);
      }
      passed += chunk.length;
      yield chunk;
    }
  };
}

/** Flips one bit of the artifact's first byte. */
export function corruptingLink(): LinkShaper {
  return async function* (body, { offset }) {
    let first = offset === 0;
    for await (const chunk of body) {
      if (first && chunk.length > 0) {
        const copy = Buffer.from(chunk);
        copy[0] = (copy[0] ?? 0) ^ 0x01;
        first = false;
        yield copy;
      } else yield chunk;
    }
  };
}

/** Applies shapers in order, the first one closest to the network. */
export function chainLinks(...shapers: readonly LinkShaper[]): LinkShaper {
  return (body, attempt) =>
    shapers.reduce<AsyncIterable<Buffer>>((source, shape) => shape(source, attempt), body);
}
