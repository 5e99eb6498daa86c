/**
 * Synthetic metrics for simulated devices: each device draws steady, noisy readings around a
 * baseline of its own (seeded by its id, so the same fleet behaves the same on every run), and a
 * behaviour can make it drift the way real gateways go wrong:
 *
 * - `memory-leak`: memory in use grows steadily while the behaviour lasts;
 * - `hot-cpu`: the CPU stays busy far above its peers;
 * - `noisy-link`: the MQTT link drops several times a window;
 * - `overheat`: the temperature climbs past any sane threshold.
 *
 * A behaviour applies to a device (`byDevice`) or to whatever runs a firmware version
 * (`byVersion`: a release that leaks). Either way the device's own health check keeps saying
 * healthy: only a comparison with its peers can tell.
 */
import { SYSTEM_METRICS } from '../contract/telemetry';

export const TELEMETRY_BEHAVIOURS = ['steady', 'memory-leak', 'hot-cpu', 'noisy-link', 'overheat'] as const;
export type TelemetryBehaviour = (typeof TELEMETRY_BEHAVIOURS)[number];

export function isTelemetryBehaviour(value: string): value is TelemetryBehaviour {
  return (TELEMETRY_BEHAVIOURS as readonly string[]).includes(value);
}

export interface SimulatedTelemetryOptions {
  readonly deviceId: string;
  /** What the device runs now (it changes with updates). */
  readonly firmwareVersion: () => string;
  /** @default 'edgeops' */
  readonly seed?: string;
  /** Behaviour of this device whatever it runs. @default steady */
  readonly behaviour?: TelemetryBehaviour;
  /** Behaviours of firmware versions; they win over `behaviour` while that version runs. */
  readonly byVersion?: Readonly<Record<string, TelemetryBehaviour>>;
  /** How fast `memory-leak` grows, MiB per minute of (simulated) time. @default 4 */
  readonly leakMiBPerMinute?: number;
}

/** One reading of every metric, and the device's own health verdict. */
export interface SimulatedSample {
  readonly metrics: Record<string, number>;
  readonly health: 'healthy';
}

/** A seeded sampler of synthetic readings, with the `sample(now)` shape of the agent's samplers. */
export class SimulatedTelemetry {
  readonly #random: () => number;
  readonly #baseline: { cpu: number; memory: number; temperature: number };
  /** When the behaviour in force now began, and which one it is. */
  #current: { behaviour: TelemetryBehaviour; since: number } | undefined;
  #uptimeStart: number | undefined;

  constructor(private readonly options: SimulatedTelemetryOptions) {
    this.#random = mulberry32(hash(`${options.seed ?? 'edgeops'}\u0000${options.deviceId}`));
    this.#baseline = {
      cpu: 15 + this.#random() * 10,
      memory: 120 + this.#random() * 16,
      temperature: 42 + this.#random() * 6,
    };
  }

  /** The behaviour in force now: the running version's, else the device's own. */
  behaviour(): TelemetryBehaviour {
    return this.options.byVersion?.[this.options.firmwareVersion()] ?? this.options.behaviour ?? 'steady';
  }

  async sample(now: number): Promise<SimulatedSample> {
    const behaviour = this.behaviour();
    if (this.#current?.behaviour !== behaviour) this.#current = { behaviour, since: now };
    this.#uptimeStart ??= now;
    const minutes = Math.max(0, now - this.#current.since) / 60_000;
    const noise = (spread: number) => (this.#random() * 2 - 1) * spread;
    const base = this.#baseline;
    const cpu = behaviour === 'hot-cpu' ? 85 + noise(5) : base.cpu + noise(3);
    const leak = behaviour === 'memory-leak' ? (this.options.leakMiBPerMinute ?? 4) * minutes : 0;
    const memory = base.memory + leak + noise(2);
    const temperature =
      behaviour === 'overheat'
        ? base.temperature + 40 + Math.min(20, minutes * 5)
        : base.temperature + noise(0.5);
    const reconnects = behaviour === 'noisy-link' ? (this.#random() < 0.6 ? 1 : 0) : 0;
    return {
      metrics: {
        [SYSTEM_METRICS.cpu]: clamp(cpu, 0, 100),
        [SYSTEM_METRICS.memory]: Math.max(1, memory),
        [SYSTEM_METRICS.memoryPercent]: clamp((memory / 1024) * 100, 0, 100),
        [SYSTEM_METRICS.disk]: 40 + noise(0.2),
        [SYSTEM_METRICS.temperature]: temperature,
        [SYSTEM_METRICS.uptime]: Math.round((now - this.#uptimeStart) / 1000),
        [SYSTEM_METRICS.restarts]: 0,
        [SYSTEM_METRICS.reconnects]: reconnects,
      },
      health: 'healthy',
    };
  }
}

const clamp = (value: number, low: number, high: number) => Math.min(high, Math.max(low, value));

/** FNV-1a of the text: a 32-bit seed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small, fast, seeded PRNG (uniform in [0, 1)). */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
