import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BootSlots, committed, decideBoot, reverted, withTrial } from '../../device/ota/boot-slots';
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

  it('drops a pending slot whose trial boot was spent without confirming', () => {
    expect(decideBoot({ active: 'A', pending: 'B', trialBoots: 1 })).toEqual({
      kind: 'revert-unconfirmed',
      slot: 'A',
      next: { active: 'A', pending: null, trialBoots: 0 },
    });
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
});
