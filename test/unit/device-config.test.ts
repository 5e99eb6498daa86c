import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  configRevision,
  desiredConfigState,
  EMPTY_CONFIG_REVISION,
  jsonDepth,
  MAX_SHADOW_STATE_BYTES,
  parseConfigValues,
  shadowLimitIssues,
  shadowPatch,
} from '../../contract/device-config';
import {
  assertFitsShadow,
  configDrift,
  driftsByRevision,
  layerStamp,
  mergeConfig,
} from '../../functions/domain/device-config';
import { ValidationError } from '../../functions/domain/errors';

const WAIT = { onMetered: 'wait', timeZone: 'UTC' } as const;
const DELTA = { onMetered: 'delta-only', timeZone: 'Europe/Berlin' } as const;
const layer = (values: Record<string, unknown>, version = 1) => ({ values, version });

describe('parseConfigValues', () => {
  it('accepts known keys and returns their parsed values', () => {
    const result = parseConfigValues({
      bandwidthPolicy: WAIT,
      logLevel: 'debug',
      telemetry: { sendEverySeconds: 60 },
    });

    expect(result).toEqual({
      ok: true,
      values: { bandwidthPolicy: WAIT, logLevel: 'debug', telemetry: { sendEverySeconds: 60 } },
    });
  });

  it('names an unknown key, and a bad field inside a known key, in one answer', () => {
    const result = parseConfigValues({
      colour: 'red',
      bandwidthPolicy: { onMetered: 'wait', timeZone: 'Mars/Olympus' },
    });

    expect(result.ok).toBe(false);
    const fields = result.ok ? [] : result.issues.map((i) => i.field);
    expect(fields).toEqual(['colour', 'bandwidthPolicy.timeZone']);
  });

  it('refuses a value outside the key schema (telemetry interval below 1 s)', () => {
    const result = parseConfigValues({ telemetry: { sampleEverySeconds: 0 } });

    expect(result.ok ? [] : result.issues.map((i) => i.field)).toEqual(['telemetry.sampleEverySeconds']);
  });

  it('refuses what is not an object of keys', () => {
    expect(parseConfigValues([1, 2]).ok).toBe(false);
    expect(parseConfigValues(null).ok).toBe(false);
  });
});

describe('mergeConfig', () => {
  it('lets the device layer win over the site, and the site over the fleet, key by key', () => {
    const merged = mergeConfig({
      fleet: layer({ logLevel: 'info', bandwidthPolicy: WAIT }),
      site: layer({ bandwidthPolicy: DELTA, telemetry: { sendEverySeconds: 60 } }),
      device: layer({ logLevel: 'debug' }),
    });

    expect(merged.values).toEqual({
      bandwidthPolicy: DELTA,
      logLevel: 'debug',
      telemetry: { sendEverySeconds: 60 },
    });
    expect(merged.sources).toEqual({ bandwidthPolicy: 'site', logLevel: 'device', telemetry: 'site' });
  });

  it('replaces a key whole: a site policy without windows does not keep the fleet one', () => {
    const merged = mergeConfig({
      fleet: layer({ bandwidthPolicy: { ...WAIT, windows: [{ start: '01:00', end: '02:00' }] } }),
      site: layer({ bandwidthPolicy: WAIT }),
    });

    expect(merged.values.bandwidthPolicy).toEqual(WAIT);
  });

  it('gives the same revision for the same values in any key order, and another for other values', () => {
    const a = mergeConfig({ fleet: layer({ logLevel: 'info', bandwidthPolicy: WAIT }) });
    const b = mergeConfig({
      site: layer({ bandwidthPolicy: { timeZone: 'UTC', onMetered: 'wait' }, logLevel: 'info' }),
    });
    const c = mergeConfig({ site: layer({ logLevel: 'debug' }) });

    expect(a.revision).toBe(b.revision);
    expect(a.revision).not.toBe(c.revision);
    expect(a.revision).toMatch(/^[0-9a-f]{16}$/);
    expect(mergeConfig({}).revision).toBe(EMPTY_CONFIG_REVISION);
  });

  it('stamps the layer versions it merged', () => {
    expect(layerStamp({ fleet: layer({}, 3), device: layer({}, 2) })).toBe('3.0.2');
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and leaves arrays in order', () => {
    expect(canonicalJson({ b: [2, 1], a: { d: 1, c: 2 } })).toBe('{"a":{"c":2,"d":1},"b":[2,1]}');
  });

  it('is what the revision hashes', () => {
    expect(configRevision({ b: 1, a: 2 })).toBe(configRevision({ a: 2, b: 1 }));
  });
});

describe('shadow limits (AWS IoT: 8 KB of desired + reported, 6 levels)', () => {
  /** A desired state of exactly `bytes` bytes as `{"desired":…}`, through one long string value. */
  function desiredOfBytes(bytes: number) {
    const base = Buffer.byteLength(JSON.stringify({ desired: { revision: '0123456789abcdef', k: '' } }));
    return { revision: '0123456789abcdef', k: 'x'.repeat(bytes - base) };
  }

  it('accepts a document of exactly 8192 bytes and refuses one of 8193', () => {
    expect(Buffer.byteLength(JSON.stringify({ desired: desiredOfBytes(MAX_SHADOW_STATE_BYTES) }))).toBe(8192);
    expect(shadowLimitIssues(desiredOfBytes(MAX_SHADOW_STATE_BYTES))).toEqual([]);
    expect(shadowLimitIssues(desiredOfBytes(MAX_SHADOW_STATE_BYTES + 1)).map((i) => i.message)).toEqual([
      expect.stringMatching(/8193 bytes; AWS IoT keeps at most 8192/),
    ]);
  });

  it('counts bytes of UTF-8, not characters', () => {
    const ascii = desiredOfBytes(MAX_SHADOW_STATE_BYTES);
    const twoByte = { ...ascii, k: `${ascii.k.slice(2)}é` };

    expect(shadowLimitIssues(twoByte)).toEqual([]);
    expect(shadowLimitIssues({ ...twoByte, k: `${twoByte.k}é` })).not.toEqual([]);
  });

  it('accepts 6 levels counted from state (the bandwidth policy with windows and days) and refuses 7', () => {
    const policy = desiredConfigState({
      bandwidthPolicy: { ...WAIT, windows: [{ days: ['mon'], start: '01:00', end: '02:00' }] },
    });
    // state → desired → bandwidthPolicy → windows → [0] → days: 6.
    expect(jsonDepth({ desired: policy })).toBe(6);
    expect(shadowLimitIssues(policy)).toEqual([]);
    expect(shadowLimitIssues({ a: { b: { c: { d: { e: { f: 1 } } } } } }).map((i) => i.message)).toEqual([
      expect.stringMatching(/nests 7 levels deep; AWS IoT allows at most 6/),
    ]);
  });

  it("fits the largest configuration today's keys allow, with room to spare", () => {
    const everyDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
    const largest = parseConfigValues({
      bandwidthPolicy: {
        onMetered: 'delta-only',
        maxBytesPerUpdate: Number.MAX_SAFE_INTEGER,
        windows: Array.from({ length: 16 }, () => ({ days: [...everyDay], start: '23:59', end: '24:00' })),
        timeZone: 'America/Argentina/ComodRivadavia',
      },
      telemetry: { sampleEverySeconds: 3600, sendEverySeconds: 86_400 },
      logLevel: 'warning',
    });
    if (!largest.ok) throw new Error(JSON.stringify(largest.issues));
    const bytes = Buffer.byteLength(JSON.stringify({ desired: desiredConfigState(largest.values) }));

    expect(bytes).toBeLessThan(MAX_SHADOW_STATE_BYTES / 2);
    expect(() => assertFitsShadow(largest.values, 'the fleet layer')).not.toThrow();
  });

  it('refuses, as a ValidationError naming the limit, a merge that would not fit', () => {
    const oversized = { bandwidthPolicy: { ...WAIT, timeZone: 'x'.repeat(9000) } } as never;

    expect(() => assertFitsShadow(oversized, 'the layer of site s1')).toThrow(
      /the layer of site s1: .*AWS IoT keeps at most 8192/,
    );
    expect(() => assertFitsShadow(oversized, 'x')).toThrow(ValidationError);
  });
});

describe('shadowPatch', () => {
  it('sets to null what the new state lacks, at every level, and replaces arrays whole', () => {
    const current = {
      revision: 'a',
      bandwidthPolicy: { onMetered: 'wait', windows: [1, 2], timeZone: 'UTC' },
      logLevel: 'info',
    };
    const next = { revision: 'b', bandwidthPolicy: { onMetered: 'wait', timeZone: 'UTC' } };

    expect(shadowPatch(current, next)).toEqual({
      revision: 'b',
      bandwidthPolicy: { onMetered: 'wait', timeZone: 'UTC', windows: null },
      logLevel: null,
    });
  });

  it('is the new state itself when there was none', () => {
    expect(shadowPatch(undefined, { revision: 'b', logLevel: 'info' })).toEqual({
      revision: 'b',
      logLevel: 'info',
    });
  });
});

describe('configDrift', () => {
  const desired = mergeConfig({ fleet: layer({ logLevel: 'info', bandwidthPolicy: WAIT }) });
  const report = (applied: Record<string, unknown>, revision = desired.revision, rejected = {}) => ({
    revision,
    applied,
    rejected,
    seq: 1,
    reportedAt: '2026-11-28T00:00:00.000Z',
  });

  it('is none when the device applied exactly the desired revision', () => {
    expect(configDrift(desired, report({ logLevel: 'info', bandwidthPolicy: WAIT }))).toEqual({
      drifting: false,
      keys: [],
      revisionPending: false,
    });
  });

  it('names every key that differs, including one the device still applies but is no longer desired', () => {
    const drift = configDrift(desired, report({ logLevel: 'debug', telemetry: { sendEverySeconds: 60 } }));

    expect(drift).toEqual({
      drifting: true,
      keys: ['bandwidthPolicy', 'logLevel', 'telemetry'],
      revisionPending: false,
    });
  });

  it('is pending for a device that never reported, on every desired key', () => {
    expect(configDrift(desired, undefined)).toEqual({
      drifting: true,
      keys: ['bandwidthPolicy', 'logLevel'],
      revisionPending: true,
    });
  });

  it('by revision: drifts on another revision or a rejected key, not when the empty configuration is reported', () => {
    expect(driftsByRevision('abc', { revision: 'abc', rejected: {} })).toBe(false);
    expect(driftsByRevision('abc', { revision: 'def', rejected: {} })).toBe(true);
    expect(driftsByRevision('abc', { revision: 'abc', rejected: { logLevel: 'unknown key' } })).toBe(true);
    expect(driftsByRevision(undefined, undefined)).toBe(false);
    expect(driftsByRevision(undefined, { revision: EMPTY_CONFIG_REVISION, rejected: {} })).toBe(false);
  });
});
