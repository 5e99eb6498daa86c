import { describe, expect, it } from 'vitest';
import { helloTopics } from '../../contract/provisioning';
import { InMemoryDeviceMessenger } from '../../functions/adapters/in-memory-device-messenger';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { InMemoryProvisioningAllowlist } from '../../functions/adapters/in-memory-provisioning-allowlist';
import { ValidationError } from '../../functions/domain/errors';
import { MAX_ALLOWLIST_BATCH } from '../../functions/domain/provisioning-claim';
import { makeDecideProvisioningClaim } from '../../functions/use-cases/provisioning/decide-provisioning-claim';
import { makeUploadAllowlist } from '../../functions/use-cases/provisioning/upload-allowlist';
import { makeWelcomeProvisionedDevice } from '../../functions/use-cases/provisioning/welcome-provisioned-device';

const clock = { now: () => new Date('2026-11-28T00:00:00Z') };
const CERT_A = 'a'.repeat(64);
const CERT_B = 'b'.repeat(64);
const entry = (serial: string) => ({ serial, site: 'plant-7', region: 'eu-west', hardwareType: 'gw-v2' });

async function listed(...serials: string[]) {
  const allowlist = new InMemoryProvisioningAllowlist();
  await makeUploadAllowlist({ allowlist, clock })(serials.map(entry));
  return allowlist;
}

describe('makeDecideProvisioningClaim (the pre-provisioning hook)', () => {
  it('allows a listed serial and sets site, region and hardware type from the allowlist, over what the device sent', async () => {
    const decide = makeDecideProvisioningClaim({ allowlist: await listed('SN-1'), clock });

    const decision = await decide({
      certificateId: CERT_A,
      parameters: { SerialNumber: 'SN-1', Site: 'somewhere-else' },
    });

    expect(decision.answer).toEqual({
      allowProvisioning: true,
      parameterOverrides: { SerialNumber: 'SN-1', Site: 'plant-7', Region: 'eu-west', HardwareType: 'gw-v2' },
    });
  });

  it('refuses a serial not on the allowlist, writing nothing', async () => {
    const allowlist = await listed('SN-1');
    const decision = await makeDecideProvisioningClaim({ allowlist, clock })({
      certificateId: CERT_A,
      parameters: { SerialNumber: 'SN-9' },
    });

    expect(decision.answer).toEqual({ allowProvisioning: false });
    expect(decision.refusal?.reason).toBe('not-on-allowlist');
    expect(allowlist.entries.has('SN-9')).toBe(false);
  });

  it('lets only one of two certificates claim a serial, and the winner claim it again', async () => {
    const decide = makeDecideProvisioningClaim({ allowlist: await listed('SN-1'), clock });
    const claim = (certificateId: string) => decide({ certificateId, parameters: { SerialNumber: 'SN-1' } });

    const [first, second] = await Promise.all([claim(CERT_A), claim(CERT_B)]);
    const again = await claim(CERT_A);

    expect(first.answer.allowProvisioning).toBe(true);
    expect(second.answer.allowProvisioning).toBe(false);
    expect(second.refusal?.reason).toBe('serial-already-used');
    expect(again.answer.allowProvisioning).toBe(true);
  });

  it.each([
    [undefined, 'parameters: must be an object'],
    [{}, 'parameters.SerialNumber: is required'],
    [{ SerialNumber: 'has space' }, 'parameters.SerialNumber: must be 1-128'],
    [{ SerialNumber: 42 }, 'parameters.SerialNumber: must be 1-128'],
  ])('refuses malformed parameters %j with the reason, reading nothing', async (parameters, reason) => {
    const allowlist = await listed('SN-1');
    allowlist.claim = () => {
      throw new Error('must not be read');
    };
    const decision = await makeDecideProvisioningClaim({ allowlist, clock })({
      certificateId: CERT_A,
      parameters,
    });

    expect(decision.answer.allowProvisioning).toBe(false);
    expect(decision.refusal).toMatchObject({ reason: 'malformed-request' });
    expect(decision.refusal?.message).toContain(reason);
  });
});

describe('makeUploadAllowlist', () => {
  it('keeps a claimed entry as it is when the serial is uploaded again, and reports it', async () => {
    const allowlist = await listed('SN-1', 'SN-2');
    await allowlist.claim('SN-1', CERT_A, clock.now());

    const result = await makeUploadAllowlist({ allowlist, clock })([
      { ...entry('SN-1'), site: 'moved' },
      { ...entry('SN-2'), site: 'moved' },
    ]);

    expect(result).toEqual({ stored: ['SN-2'], alreadyClaimed: ['SN-1'] });
    expect(allowlist.entries.get('SN-1')?.site).toBe('plant-7');
    expect(allowlist.entries.get('SN-2')?.site).toBe('moved');
  });

  it.each([
    ['an empty batch', [], /at least 1/],
    [
      'a batch above the limit',
      Array.from({ length: MAX_ALLOWLIST_BATCH + 1 }, (_, i) => entry(`S${i}`)),
      /at most 500/,
    ],
    ['a serial twice', [entry('SN-1'), entry('SN-1')], /serials listed twice: SN-1/],
  ])('refuses %s, writing nothing', async (_what, entries, message) => {
    const allowlist = new InMemoryProvisioningAllowlist();
    const upload = makeUploadAllowlist({ allowlist, clock })(entries);
    await expect(upload).rejects.toBeInstanceOf(ValidationError);
    await expect(upload).rejects.toThrow(message);
    expect(allowlist.entries.size).toBe(0);
  });
});

describe('makeWelcomeProvisionedDevice (the first hello)', () => {
  async function welcomeFixture() {
    const allowlist = await listed('SN-1');
    const fleetStore = new InMemoryFleetStore();
    const messenger = new InMemoryDeviceMessenger();
    const delivered: string[] = [];
    const welcome = makeWelcomeProvisionedDevice({
      allowlist,
      fleetStore,
      deliverConfig: async (deviceId) => {
        delivered.push(deviceId);
        return { outcome: 'delivered' };
      },
      messenger,
      trustRoot: async () => ({ signed: { version: 3 } }),
      clock,
    });
    return { allowlist, fleetStore, delivered, messenger, welcome };
  }
  const hello = (certificateId: string) => ({
    deviceId: 'SN-1',
    certificateId,
    request: { schemaVersion: 1 as const, requestId: 'r1' },
  });

  it('writes the registry record of a device claimed by this certificate and answers with the trust root', async () => {
    const { allowlist, fleetStore, delivered, messenger, welcome } = await welcomeFixture();
    await allowlist.claim('SN-1', CERT_A, clock.now());

    expect(await welcome(hello(CERT_A))).toBe('recorded');

    expect(await fleetStore.getDevice('SN-1')).toMatchObject({
      deviceId: 'SN-1',
      site: 'plant-7',
      region: 'eu-west',
      hardwareType: 'gw-v2',
      status: 'registered',
      certificateId: CERT_A,
    });
    expect(delivered).toEqual(['SN-1']);
    expect(messenger.sent).toEqual([
      {
        topic: helloTopics('SN-1').accepted,
        payload: expect.objectContaining({
          requestId: 'r1',
          trustRoot: { signed: { version: 3 } },
          configuration: { shadowName: 'config', delivery: 'delivered' },
        }),
      },
    ]);
  });

  it('answers a repeated hello from the record without writing it again', async () => {
    const { allowlist, welcome } = await welcomeFixture();
    await allowlist.claim('SN-1', CERT_A, clock.now());
    await welcome(hello(CERT_A));

    expect(await welcome(hello(CERT_A))).toBe('already-recorded');
  });

  it('rejects another certificate, and a serial nobody claimed, writing nothing', async () => {
    const { allowlist, fleetStore, delivered, messenger, welcome } = await welcomeFixture();

    expect(await welcome(hello(CERT_A))).toBe('rejected');
    await allowlist.claim('SN-1', CERT_A, clock.now());
    expect(await welcome(hello(CERT_B))).toBe('rejected');

    expect(await fleetStore.getDevice('SN-1')).toBeUndefined();
    expect(delivered).toEqual([]);
    expect(messenger.sent.map((m) => m.topic)).toEqual([
      helloTopics('SN-1').rejected,
      helloTopics('SN-1').rejected,
    ]);
  });
});
