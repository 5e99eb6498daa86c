/**
 * A device's identity lifecycle against local AWS: certificate rotation over MQTT (also with a
 * power cut mid-way), retirement (the revoked device is refused, its history stays) and quarantine
 * (no rollout job, the restricted policy; release restores it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeCertificateCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListJobExecutionsForThingCommand,
} from '@aws-sdk/client-iot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MqttJsConnection } from '../../device/cloud/mqtt-js-connection';
import { DeviceAgent } from '../../device/device-agent';
import { CertificateRotation, type RotationStep } from '../../device/identity/certificate-rotation';
import type { Registration } from '../../operator-client/operator-api-client';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { publishRelease } from '../../scripts/local-aws/releases';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, profile, uniqueId } from './support';

const root = mkdtempSync(join(tmpdir(), 'edgeops-e2e-lifecycle-'));
let client: IoTClient | undefined;
const iot = () => {
  client ??= new IoTClient(localClientConfig(context()));
  return client;
};
const agents: DeviceAgent[] = [];
afterEach(async () => {
  // As a power cut: a clean stop waits for unacknowledged publishes, which a refused session never gets.
  await Promise.all(agents.splice(0).map((a) => a.crash().catch(() => {})));
});
afterAll(() => {
  client?.destroy();
  rmSync(root, { recursive: true, force: true });
});

interface LifecycleView {
  status: 'active' | 'quarantined' | 'retired';
  certificateId: string | null;
  certificateNotAfter: string | null;
  rotation: {
    requestId: string;
    state: string;
    certificateId: string;
    previousCertificateId: string | null;
  } | null;
  quarantine: { reason: string; by: string; source: string } | null;
  retirement: { reason: string; by: string } | null;
  firmwareVersion: string | null;
}

/** `GET /devices?status=`: the ids on every page. */
async function listed(status: 'quarantined' | 'retired'): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `devices?status=${status}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const { body } = await api('viewer').request<{
      items: { deviceId: string }[];
      nextCursor: string | null;
    }>('GET', query);
    ids.push(...body.items.map((d) => d.deviceId));
    cursor = body.nextCursor;
  } while (cursor);
  return ids;
}

const certificateStatus = async (certificateId: string) =>
  (await iot().send(new DescribeCertificateCommand({ certificateId }))).certificateDescription?.status;

const device = async (deviceId: string) =>
  (await api('viewer').request<LifecycleView>('GET', `devices/${deviceId}`)).body;

/** The device's rotation, connecting with mqtt.js to local AWS's broker; always due (maxAgeDays 0). */
function rotationFor(registration: Registration, afterStep?: (step: RotationStep) => void) {
  const { mqtt } = context();
  return new CertificateRotation({
    deviceId: registration.device.deviceId,
    stateDir: join(root, registration.device.deviceId),
    factory: registration.credentials,
    connect: (identity) => new MqttJsConnection(identity, mqtt),
    // Due now: a certificate of any age is older than 0 days.
    maxAgeDays: 0,
    replyTimeoutMs: 60_000,
    ...(afterStep ? { afterStep } : {}),
  });
}

/** An agent on the newest identity the rotation has that local AWS accepts, as the daemon starts one. */
async function startOnNewestIdentity(
  rotation: CertificateRotation,
  deviceId: string,
  firmwareVersion = '1.0.0',
) {
  for (const identity of await rotation.identityCandidates()) {
    const agent = new DeviceAgent({
      identity: { ...identity, deviceId },
      broker: context().mqtt,
      firmwareVersion,
    });
    try {
      await agent.start();
      agents.push(agent);
      return { agent, identity };
    } catch {
      await agent.crash().catch(() => {});
    }
  }
  throw new Error(`no identity of ${deviceId} connects`);
}

async function refusedToConnect(identity: { deviceId: string; certificatePem: string; privateKey: string }) {
  const agent = new DeviceAgent({
    identity,
    broker: context().mqtt,
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 5_000,
  });
  try {
    await agent.start();
  } catch (error) {
    return (error as Error).message;
  } finally {
    await agent.crash().catch(() => {});
  }
  return undefined;
}

describe('certificate rotation', () => {
  it('rotates over MQTT: the device reconnects with the new certificate and the old one is inactive', async () => {
    const registration = await api().registerDevice(profile());
    const { deviceId } = registration.device;
    const oldId = registration.credentials.certificateId;
    const rotation = rotationFor(registration);

    const outcome = await rotation.rotateIfDue();

    if (outcome.outcome !== 'rotated') throw new Error(JSON.stringify(outcome));
    expect(outcome.certificateId).not.toBe(oldId);
    expect(await certificateStatus(outcome.certificateId)).toBe('ACTIVE');
    expect(await certificateStatus(oldId)).toBe('INACTIVE');
    const view = await device(deviceId);
    expect(view).toMatchObject({
      status: 'active',
      certificateId: outcome.certificateId,
      certificateNotAfter: outcome.notAfter,
      rotation: { state: 'confirmed', certificateId: outcome.certificateId, previousCertificateId: oldId },
    });
    const { identity } = await startOnNewestIdentity(rotation, deviceId, '2.0.0');
    expect(identity.source).toBe('active');
    await eventually(async () => ((await device(deviceId)).firmwareVersion === '2.0.0' ? true : undefined));
    expect(await refusedToConnect({ deviceId, ...registration.credentials })).toBeDefined();
  });

  for (const step of ['issued', 'new-identity-connected'] as const) {
    it(`survives a power cut after ${step}: on restart the device connects, and the rotation finishes`, async () => {
      const registration = await api().registerDevice(profile());
      const { deviceId } = registration.device;
      const oldId = registration.credentials.certificateId;
      const cut = rotationFor(registration, (at) => {
        if (at === step) throw new Error(`power cut after ${at}`);
      });
      expect(await cut.rotateIfDue()).toMatchObject({
        outcome: 'failed',
        message: `power cut after ${step}`,
      });
      expect((await device(deviceId)).rotation).toMatchObject({ state: 'issued' });
      // Both certificates work until the new one is confirmed.
      expect(await certificateStatus(oldId)).toBe('ACTIVE');

      const restarted = rotationFor(registration);
      const { agent, identity } = await startOnNewestIdentity(restarted, deviceId);
      expect(identity.source).toBe('pending');
      await agent.crash();
      const outcome = await restarted.rotateIfDue();

      expect(outcome.outcome).toBe('rotated');
      expect(await certificateStatus(oldId)).toBe('INACTIVE');
      expect((await startOnNewestIdentity(restarted, deviceId)).identity.source).toBe('active');
    });
  }
});

describe('POST /devices/{deviceId}/retire', () => {
  it('revokes the certificate: the device cannot connect again, what it still sends is dropped, its history stays', async () => {
    const registration = await api().registerDevice(profile());
    const { deviceId } = registration.device;
    const identity = { deviceId, ...registration.credentials };
    const agent = new DeviceAgent({ identity, broker: context().mqtt, firmwareVersion: '1.0.0' });
    agents.push(agent);
    await agent.start();
    await eventually(async () => ((await device(deviceId)).firmwareVersion === '1.0.0' ? true : undefined));

    expect(
      (await api('operator').request('POST', `devices/${deviceId}/retire`, { reason: 'x' })).status,
    ).toBe(403);
    const retired = await api('admin').request<LifecycleView & { revokedCertificates: string[] }>(
      'POST',
      `devices/${deviceId}/retire`,
      { reason: 'end of life' },
    );

    expect(retired.status, JSON.stringify(retired.body)).toBe(200);
    expect(retired.body).toMatchObject({
      status: 'retired',
      retirement: { reason: 'end of life', by: 'e2e-admin' },
    });
    expect(retired.body.revokedCertificates).toEqual([registration.credentials.certificateId]);
    expect(await certificateStatus(registration.credentials.certificateId)).toBe('REVOKED');
    // Local AWS keeps an open session of a revoked certificate (AWS ends it within minutes). On it
    // the broker refuses what the detached policies no longer allow; whatever still got through
    // would be dropped by the ingest (it writes registered devices only): nothing is recorded.
    await Promise.race([
      agent.switchFirmware('9.9.9').catch(() => {}),
      new Promise((r) => setTimeout(r, 10_000)),
    ]);
    await new Promise((r) => setTimeout(r, 5_000));
    expect(await device(deviceId)).toMatchObject({ status: 'retired', firmwareVersion: '1.0.0' });
    await agent.crash();
    expect(await refusedToConnect(identity)).toBeDefined();
    const again = await api('admin').request<LifecycleView>('POST', `devices/${deviceId}/retire`, {
      reason: 'again',
    });
    expect(again.status).toBe(200);
    expect(again.body.retirement?.reason).toBe('end of life');
    expect((await api('viewer').request('GET', `devices/${deviceId}/telemetry`)).status).toBe(200);
    expect(await listed('retired')).toContain(deviceId);
  });

  it('answers 400 naming reason without one, and 404 for an unknown device', async () => {
    const registration = await api().registerDevice(profile());

    const missing = await api('admin').request('POST', `devices/${registration.device.deviceId}/retire`, {});
    const unknown = await api('admin').request('POST', `devices/${uniqueId('nobody')}/retire`, {
      reason: 'x',
    });

    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ errors: [{ field: 'reason' }] });
    expect((await device(registration.device.deviceId)).status).toBe('active');
    expect(unknown.status).toBe(404);
  });
});

describe('quarantine', () => {
  const FIRST = '6.0.0';
  const NEXT = '6.0.1';
  let fleet: FleetSimulator | undefined;
  beforeAll(async () => {
    for (const version of [NEXT])
      await publishRelease(api('operator'), version, ['rpi4'], () => new Uint8Array(4096).fill(7));
  });
  afterAll(async () => {
    await fleet?.stop();
  });

  it('gives a quarantined device no rollout job and the quarantine policy; release restores both', async () => {
    const region = uniqueId('region');
    fleet = new FleetSimulator({
      api: api('operator'),
      broker: context().mqtt,
      size: 2,
      prefix: uniqueId('qua'),
      region,
      sites: ['north'],
      hardwareTypes: ['rpi4'],
      firmwareVersion: FIRST,
      ota: { stateDir: join(root, 'fleet'), timeFactor: 0.05, allowPlainHttp: true },
    });
    await fleet.start();
    const [held, free] = fleet.agents.map((a) => a.deviceId) as [string, string];
    const quarantined = await api('operator').request<LifecycleView>('POST', `devices/${held}/quarantine`, {
      reason: 'odd outbound traffic',
    });
    expect(quarantined.status, JSON.stringify(quarantined.body)).toBe(200);
    expect(quarantined.body).toMatchObject({
      status: 'quarantined',
      quarantine: { reason: 'odd outbound traffic', by: 'e2e-operator', source: 'operator' },
    });
    const certificateId = quarantined.body.certificateId as string;
    const { certificateDescription } = await iot().send(new DescribeCertificateCommand({ certificateId }));
    const target = certificateDescription?.certificateArn as string;
    const policies = async () =>
      (await iot().send(new ListAttachedPoliciesCommand({ target }))).policies?.map((p) => p.policyName);
    expect(await policies()).toEqual([context().outputs.QuarantinePolicyName]);
    expect(await listed('quarantined')).toContain(held);

    const rollout = await runRollout({ filter: { region } });

    expect(rollout.status).toBe('succeeded');
    expect((await device(free)).firmwareVersion).toBe(NEXT);
    expect((await device(held)).firmwareVersion).toBe(FIRST);
    const executions = await iot().send(new ListJobExecutionsForThingCommand({ thingName: held }));
    expect(executions.executionSummaries ?? []).toEqual([]);

    const released = await api('operator').request<LifecycleView>('POST', `devices/${held}/release`, {
      reason: 'checked',
    });
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ status: 'active', quarantine: null });
    expect(await policies()).toEqual([context().outputs.DevicePolicyName]);
    expect(await listed('quarantined')).not.toContain(held);
    const second = await runRollout({ deviceIds: [held] });
    expect(second.status).toBe('succeeded');
    expect((await device(held)).firmwareVersion).toBe(NEXT);
  });

  async function runRollout(target: object) {
    const created = await api('operator').request<{ rollout: { rolloutId: string } }>('POST', 'rollouts', {
      releaseId: `rel-${NEXT}`,
      target,
      waves: [{ percent: 100 }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { rolloutId } = created.body.rollout;
    return eventually(async () => {
      const { body } = await api('viewer').request<{ status: string; haltReason: string | null }>(
        'GET',
        `rollouts/${rolloutId}`,
      );
      return ['succeeded', 'halted', 'aborted', 'failed'].includes(body.status) ? body : undefined;
    }, 180_000);
  }
});
