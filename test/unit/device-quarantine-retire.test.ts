import { describe, expect, it } from 'vitest';
import {
  InMemoryDeviceCertificates,
  InMemoryDeviceLifecycleStore,
} from '../../functions/adapters/in-memory-device-lifecycle';
import type { Device } from '../../functions/domain/device';
import {
  DeviceRetiredError,
  isRolloutJobId,
  lifecycleStatusOf,
} from '../../functions/domain/device-lifecycle';
import { DeviceNotFoundError } from '../../functions/domain/errors';
import { makeQuarantineDevice, makeReleaseDevice } from '../../functions/use-cases/quarantine-device';
import { makeRetireDevice } from '../../functions/use-cases/retire-device';

const DEVICE = 'dev-life-1';
const ROLLOUT_JOB = 'ro-0123456789ab-w0';
const COMMAND_JOB = 'cmd-reboot-1';

function setup() {
  const store = new InMemoryDeviceLifecycleStore();
  const certificates = new InMemoryDeviceCertificates();
  const certificate = certificates.seed(DEVICE);
  const device: Device = {
    deviceId: DEVICE,
    hardwareType: 'rpi4',
    site: 'plant-a',
    region: 'eu-west',
    status: 'registered',
    registeredAt: '2029-06-01T00:00:00Z',
    certificateId: certificate.certificateId,
    connection: { state: 'connected' },
  };
  store.put(device);
  certificates.groups.set('edgeops-ro-0123456789ab-w0', new Set([DEVICE, 'other']));
  certificates.groups.set('building-7', new Set([DEVICE]));
  certificates.executions.set(
    DEVICE,
    new Map([
      [ROLLOUT_JOB, 'QUEUED'],
      [COMMAND_JOB, 'IN_PROGRESS'],
      ['ro-0123456789ab-w1', 'SUCCEEDED'],
    ]),
  );
  const clock = { now: () => new Date('2030-06-01T00:00:00Z') };
  return {
    store,
    certificates,
    certificate,
    quarantine: makeQuarantineDevice({ store, certificates, clock }),
    release: makeReleaseDevice({ store, certificates }),
    retire: makeRetireDevice({ store, certificates, clock }),
  };
}

const quarantineInput = { deviceId: DEVICE, reason: 'odd traffic', by: 'alice', source: 'operator' as const };

describe('isRolloutJobId', () => {
  it('tells rollout wave jobs from other jobs', () => {
    expect(isRolloutJobId(ROLLOUT_JOB)).toBe(true);
    expect(isRolloutJobId(COMMAND_JOB)).toBe(false);
    expect(isRolloutJobId('ro-0123456789ab')).toBe(false);
  });
});

describe('makeQuarantineDevice', () => {
  it('records who and why, swaps the certificate to the quarantine policy and cancels only rollout executions', async () => {
    const { quarantine, certificates, certificate } = setup();

    const { device, canceledJobs } = await quarantine(quarantineInput);

    expect(lifecycleStatusOf(device)).toBe('quarantined');
    expect(device.quarantine).toEqual({
      reason: 'odd traffic',
      by: 'alice',
      source: 'operator',
      since: '2030-06-01T00:00:00.000Z',
    });
    expect(certificates.policiesOf(certificate.certificateId)).toEqual(['quarantine']);
    expect(canceledJobs).toEqual([ROLLOUT_JOB]);
    expect(certificates.executions.get(DEVICE)?.get(COMMAND_JOB)).toBe('IN_PROGRESS');
  });

  it('keeps the first reason and time when asked again, and finishes a swap a failure left undone', async () => {
    const { quarantine, certificates, certificate } = setup();
    certificates.failNext = 'swapPolicy';
    await expect(quarantine(quarantineInput)).rejects.toThrow(/injected/);
    expect(certificates.policiesOf(certificate.certificateId)).toEqual(['device']);

    const { device } = await quarantine({ ...quarantineInput, reason: 'second try', by: 'bob' });

    expect(device.quarantine?.reason).toBe('odd traffic');
    expect(certificates.policiesOf(certificate.certificateId)).toEqual(['quarantine']);
  });

  it('refuses a retired device and an unknown one', async () => {
    const { quarantine, retire } = setup();
    await retire({ deviceId: DEVICE, reason: 'eol', by: 'admin' });

    await expect(quarantine(quarantineInput)).rejects.toBeInstanceOf(DeviceRetiredError);
    await expect(quarantine({ ...quarantineInput, deviceId: 'nobody' })).rejects.toBeInstanceOf(
      DeviceNotFoundError,
    );
  });
});

describe('makeReleaseDevice', () => {
  it('gives the device policy back and clears the quarantine', async () => {
    const { quarantine, release, certificates, certificate } = setup();
    await quarantine(quarantineInput);

    const device = await release({ deviceId: DEVICE });

    expect(lifecycleStatusOf(device)).toBe('active');
    expect(device.quarantine).toBeUndefined();
    expect(certificates.policiesOf(certificate.certificateId)).toEqual(['device']);
  });

  it('changes nothing on a device that is not quarantined', async () => {
    const { release, certificates } = setup();

    const device = await release({ deviceId: DEVICE });

    expect(lifecycleStatusOf(device)).toBe('active');
    expect(certificates.calls).not.toContain('swapPolicy');
  });
});

describe('makeRetireDevice', () => {
  it('marks the item retired, revokes every certificate, leaves the groups and cancels every open execution', async () => {
    const { retire, certificates, certificate } = setup();
    const second = certificates.seed(DEVICE);

    const result = await retire({ deviceId: DEVICE, reason: 'end of life', by: 'carol' });

    expect(result.device.status).toBe('retired');
    expect(result.device.retirement).toEqual({
      reason: 'end of life',
      by: 'carol',
      at: '2030-06-01T00:00:00.000Z',
    });
    expect(certificates.status(certificate.certificateId)).toBe('REVOKED');
    expect(certificates.status(second.certificateId)).toBe('REVOKED');
    expect(certificates.policiesOf(certificate.certificateId)).toEqual([]);
    expect([...result.leftThingGroups].sort()).toEqual(['building-7', 'edgeops-ro-0123456789ab-w0']);
    expect(certificates.groups.get('edgeops-ro-0123456789ab-w0')).toEqual(new Set(['other']));
    expect([...result.canceledJobs].sort()).toEqual([COMMAND_JOB, ROLLOUT_JOB]);
  });

  it('is idempotent: a second retirement keeps the first record and finishes what a failure left', async () => {
    const { retire, certificates, certificate } = setup();
    certificates.failNext = 'leaveThingGroups';
    await expect(retire({ deviceId: DEVICE, reason: 'eol', by: 'carol' })).rejects.toThrow(/injected/);
    expect(certificates.status(certificate.certificateId)).toBe('REVOKED');

    const again = await retire({ deviceId: DEVICE, reason: 'other words', by: 'dave' });

    expect(again.device.retirement?.by).toBe('carol');
    expect(certificates.groups.get('building-7')?.size).toBe(0);
  });

  it('answers not found for an unknown device', async () => {
    const { retire } = setup();

    await expect(retire({ deviceId: 'nobody', reason: 'x', by: 'y' })).rejects.toBeInstanceOf(
      DeviceNotFoundError,
    );
  });
});

describe('a retired device in the fleet store', () => {
  it('has its reports and connection events dropped, not written', async () => {
    const { InMemoryFleetStore } = await import('../../functions/adapters/in-memory-fleet-store');
    const fleet = new InMemoryFleetStore();
    await fleet.createDevice({
      deviceId: DEVICE,
      hardwareType: 'rpi4',
      site: 'plant-a',
      region: 'eu-west',
      status: 'retired',
      registeredAt: '2029-06-01T00:00:00Z',
      connection: { state: 'connected' },
    });

    const report = await fleet.recordReport({
      deviceId: DEVICE,
      firmwareVersion: '9.9.9',
      shadowVersion: 7,
      reportedAt: new Date(),
    });
    const connection = await fleet.recordConnection({
      deviceId: DEVICE,
      state: 'disconnected',
      at: new Date(),
    });

    expect([report, connection]).toEqual([false, false]);
    expect((await fleet.getDevice(DEVICE))?.firmwareVersion).toBeUndefined();
  });
});
