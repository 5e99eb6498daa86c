/**
 * Wave planning: which target device lands in which wave of a rollout. Pure and deterministic:
 * the same target, spec and seed always give the same plan.
 *
 * 1. Devices already in another active rollout are left out (reported), unless forced.
 * 2. The rest are ordered by a seeded hash of their id, so cohorts are stable but not biased by
 *    naming (e.g. all of one site's ids sorting first).
 * 3. The first wave (canary) takes one device of every hardware type × site present, largest
 *    strata first, as far as its size allows, then fills up in hash order.
 * 4. Later waves take the next devices in hash order; the last wave takes all that remain.
 */
import { ValidationError } from './errors';

export interface PlanDevice {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly site: string;
}

/** A wave's own size: a device count, or a percentage of the planned (not excluded) devices. */
export type WaveSize = { readonly count: number } | { readonly percent: number };

export interface WaveSizeSpec {
  readonly size: WaveSize;
}

export interface PlannedWave {
  readonly index: number;
  readonly deviceIds: readonly string[];
}

export interface ExcludedDevice {
  readonly deviceId: string;
  readonly reason: string;
}

export interface WavePlan {
  readonly waves: readonly PlannedWave[];
  readonly excluded: readonly ExcludedDevice[];
  /** Hardware type × site strata present in the target, and how many of them the canary covers. */
  readonly strata: { readonly total: number; readonly coveredByCanary: number };
}

export interface PlanInput {
  readonly seed: string;
  readonly devices: Iterable<PlanDevice>;
  readonly waves: readonly WaveSizeSpec[];
  /** Device id → id of the active rollout that already holds it. */
  readonly busy?: ReadonlyMap<string, string>;
  /** Plan busy devices anyway. */
  readonly force?: boolean;
}

/** 32-bit FNV-1a over the seed and the id: cheap, stable across platforms and runs. */
function seededHash(seed: number, id: string): number {
  let h = seed;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function seedOf(seed: string): number {
  return seededHash(0x811c9dc5, seed);
}

/** Turns wave sizes into device counts for `total` devices; the last wave takes the rest. */
export function resolveWaveCounts(waves: readonly WaveSizeSpec[], total: number): number[] {
  if (waves.length === 0)
    throw new ValidationError('A rollout needs at least one wave', [{ field: 'waves', message: 'empty' }]);
  const counts = waves.map((wave, i) => {
    const field = `waves.${i}.size`;
    if ('count' in wave.size) {
      if (!Number.isInteger(wave.size.count) || wave.size.count < 1) {
        throw new ValidationError(`Wave ${i + 1} needs at least one device`, [
          { field, message: 'count must be ≥ 1' },
        ]);
      }
      return wave.size.count;
    }
    const { percent } = wave.size;
    if (!(percent > 0 && percent <= 100)) {
      throw new ValidationError(`Wave ${i + 1} percent must be in (0, 100]`, [
        { field, message: 'percent out of range' },
      ]);
    }
    return Math.max(1, Math.ceil((percent / 100) * total));
  });
  const beforeLast = counts.slice(0, -1).reduce((a, b) => a + b, 0);
  if (beforeLast + 1 > total) {
    throw new ValidationError(
      `Impossible wave sizes: the waves before the last need ${beforeLast} devices and the last at least 1, but the target has ${total}`,
      [{ field: 'waves', message: `sizes exceed the ${total} devices in the target` }],
    );
  }
  counts[counts.length - 1] = total - beforeLast;
  return counts;
}

const INDEX_BITS = 2 ** 21;

/**
 * Devices in seeded-hash order, ties by id, so the order never depends on the input's. Sorting
 * packed `hash · 2^21 + index` numbers in a typed array keeps a million devices well under a
 * second; equal hashes (rare) are then put in id order.
 */
function orderByHash(devices: readonly PlanDevice[], seed: number): { device: PlanDevice; hash: number }[] {
  if (devices.length >= INDEX_BITS) {
    throw new ValidationError(`A rollout targets at most ${INDEX_BITS - 1} devices`, [
      { field: 'target', message: 'too many devices' },
    ]);
  }
  const keys = new Float64Array(devices.length);
  devices.forEach((d, i) => {
    keys[i] = seededHash(seed, d.deviceId) * INDEX_BITS + i;
  });
  keys.sort();
  const ordered = Array.from(keys, (key) => ({
    device: devices[key % INDEX_BITS] as PlanDevice,
    hash: Math.floor(key / INDEX_BITS),
  }));
  for (let start = 0; start < ordered.length; ) {
    let end = start + 1;
    while (end < ordered.length && ordered[end]?.hash === ordered[start]?.hash) end++;
    if (end - start > 1) {
      const run = ordered.slice(start, end).sort((a, b) => (a.device.deviceId < b.device.deviceId ? -1 : 1));
      run.forEach((entry, k) => {
        ordered[start + k] = entry;
      });
    }
    start = end;
  }
  return ordered;
}

export function planWaves(input: PlanInput): WavePlan {
  const seed = seedOf(input.seed);
  const excluded: ExcludedDevice[] = [];
  const candidates: PlanDevice[] = [];
  for (const device of input.devices) {
    const holder = input.busy?.get(device.deviceId);
    if (holder !== undefined && !input.force) {
      excluded.push({ deviceId: device.deviceId, reason: `in active rollout ${holder}` });
    } else {
      candidates.push(device);
    }
  }
  if (candidates.length === 0) {
    throw new ValidationError('The target has no device to update', [
      { field: 'target', message: 'no eligible device' },
    ]);
  }
  const eligible = orderByHash(candidates, seed);
  const counts = resolveWaveCounts(input.waves, eligible.length);

  // Strata in first-seen (hash) order; the first member seen is the stratum's canary candidate.
  const strata = new Map<string, { first: number; size: number }>();
  eligible.forEach(({ device }, position) => {
    const key = `${device.hardwareType}\u0000${device.site}`;
    const stratum = strata.get(key);
    if (stratum) stratum.size++;
    else strata.set(key, { first: position, size: 1 });
  });
  const canarySize = counts[0] ?? 0;
  const representatives = [...strata.values()]
    .sort((a, b) => b.size - a.size || a.first - b.first)
    .slice(0, canarySize)
    .map((s) => s.first);

  const taken = new Uint8Array(eligible.length);
  const canary: string[] = [];
  for (const position of representatives) {
    taken[position] = 1;
    canary.push((eligible[position] as { device: PlanDevice }).device.deviceId);
  }
  let cursor = 0;
  const next = (): string => {
    while (taken[cursor]) cursor++;
    taken[cursor] = 1;
    return (eligible[cursor++] as { device: PlanDevice }).device.deviceId;
  };
  while (canary.length < canarySize) canary.push(next());

  const waves: PlannedWave[] = [{ index: 0, deviceIds: canary }];
  for (let w = 1; w < counts.length; w++) {
    const ids: string[] = [];
    for (let n = counts[w] ?? 0; n > 0; n--) ids.push(next());
    waves.push({ index: w, deviceIds: ids });
  }
  return { waves, excluded, strata: { total: strata.size, coveredByCanary: representatives.length } };
}
