import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BootSlots,
  checkMaxTrialBoots,
  committed,
  DEFAULT_MAX_TRIAL_BOOTS,
  decideBoot,
  reverted,
  withTrial,
} from '../../device/ota/boot-slots';
import { DeviceStateDir } from '../../device/storage/device-state-dir';

describe('decideBoot', () => {
  it('boots the confirmed slot when nothing is pending', () => {
    expect(decideBoot(committed('A'))).toEqual({ kind: 'confirmed', slot: 'A' });
  });

  it('boots a pending slot on trial and spends its trial boot first', () => {
    expect(decideBoot(withTrial(committed('A'), 'B'))).toEqual({
      kind: 'trial',
      slot: 'B',
      next: { active: 'A', pending: 'B', trialBoots: 1 },
    });
  });

  it('boots a pending slot on trial again while trial boots are left (3 by default)', () => {
    expect(DEFAULT_MAX_TRIAL_BOOTS).toBe(3);
    expect(decideBoot({ active: 'A', pending: 'B', trialBoots: 1 })).toEqual({
      kind: 'trial',
      slot: 'B',
      next: { active: 'A', pending: 'B', trialBoots: 2 },
    });
    expect(decideBoot({ active: 'A', pending: 'B', trialBoots: 2 })).toEqual({
      kind: 'trial',
      slot: 'B',
      next: { active: 'A', pending: 'B', trialBoots: 3 },
    });
  });

  it('drops a pending slot whose trial boots were all spent without confirming', () => {
    expect(decideBoot({ active: 'A', pending: 'B', trialBoots: 3 })).toEqual({
      kind: 'revert-unconfirmed',
      slot: 'A',
      next: { active: 'A', pending: null, trialBoots: 0 },
      trialBoots: 3,
    });
  });

  it('takes the configured limit: one trial boot reverts on the next start', () => {
    expect(decideBoot({ active: 'A', pending: 'B', trialBoots: 1 }, 1)).toEqual({
      kind: 'revert-unconfirmed',
      slot: 'A',
      next: { active: 'A', pending: null, trialBoots: 0 },
      trialBoots: 1,
    });
  });

  it('accepts a trial-boot limit from 1 to 10 only', () => {
    expect(checkMaxTrialBoots(1)).toBe(1);
    expect(checkMaxTrialBoots(10)).toBe(10);
    for (const bad of [0, 11, 2.5, Number.NaN, -1])
      expect(() => checkMaxTrialBoots(bad)).toThrow(/maxTrialBoots must be an integer from 1 to 10/);
  });

  it('keeps the confirmed slot when reverting', () => {
    expect(reverted({ active: 'B', pending: 'A', trialBoots: 1 })).toEqual(committed('B'));
  });
});

describe('BootSlots', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'edgeops-slots-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('starts a fresh state dir on slot A with the factory version, confirmed', async () => {
    const slots = new BootSlots(new DeviceStateDir(root), { fsync: false });

    const state = await slots.initialize('1.0.0');

    expect(state).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    expect((await slots.readMeta('A'))?.version).toBe('1.0.0');
  });

  it('keeps the boot state it finds rather than the factory one', async () => {
    const slots = new BootSlots(new DeviceStateDir(root), { fsync: false });
    await slots.initialize('1.0.0');
    await slots.write({ active: 'B', pending: null, trialBoots: 0 });

    expect(await slots.initialize('1.0.0')).toEqual({ active: 'B', pending: null, trialBoots: 0 });
  });

  it('writes boot.json whole, leaving no temp file behind', async () => {
    const slots = new BootSlots(new DeviceStateDir(root));
    await slots.initialize('1.0.0');

    await slots.write(withTrial(committed('A'), 'B'));

    expect(JSON.parse(await readFile(join(root, 'boot.json'), 'utf8'))).toEqual({
      active: 'A',
      pending: 'B',
      trialBoots: 0,
    });
    expect((await readdir(root)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('lands no write once the power is gone, and none that the write hook cut', async () => {
    const power = new AbortController();
    const cut: string[] = [];
    const slots = new BootSlots(new DeviceStateDir(root), {
      fsync: false,
      signal: power.signal,
      beforeWrite: (path) => {
        if (cut.length === 0 && path.endsWith('boot.json')) {
          cut.push(path);
          throw new Error('power cut');
        }
      },
    });
    const state = await slots.initialize('1.0.0').catch(() => undefined);
    expect(state).toBeUndefined();
    expect(cut).toEqual([join(root, 'boot.json')]);
    expect(await readdir(root)).toEqual(['slots']);

    await slots.write(committed('A'));
    power.abort();
    await expect(slots.write(withTrial(committed('A'), 'B'))).rejects.toThrow();

    expect(await slots.read()).toEqual(committed('A'));
    expect((await readdir(root)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
