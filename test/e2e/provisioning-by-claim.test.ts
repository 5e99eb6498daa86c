/**
 * Zero-touch provisioning by claim against local AWS: a device with only the factory claim
 * certificate makes its key, gets a certificate over MQTT (CreateCertificateFromCsr), registers
 * through the fleet provisioning template and its pre-provisioning hook (the allowlist), and comes
 * out with its own identity, thing, registry record and trust root. Every refusal leaves nothing
 * behind, and the claim certificate can do nothing else.
 *
 * Local AWS gap: MiniStack 1.5.33 does not answer `$aws/certificates/create-from-csr/json`; the
 * local AWS launcher patches that in (scripts/local-aws/ministack-patches/fleet_csr.py).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeCertificateCommand,
  DescribeThingCommand,
  IoTClient,
  ListThingPrincipalsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-iot';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetProvisioningTopics } from '../../contract/provisioning';
import { MqttJsConnection } from '../../device/cloud/mqtt-js-connection';
import { DeviceAgent } from '../../device/device-agent';
import {
  type ClaimProvisioningOptions,
  ClaimRefusedError,
  provisionByClaim,
} from '../../device/identity/claim-provisioning';
import { createCertificateRequest, createDeviceKey } from '../../device/identity/csr';
import { type ClaimCertificate, createClaimCertificate } from '../../scripts/local-aws/claim-certificate';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

const outputs = () => context().outputs as unknown as Record<string, string>;
const iot = () => new IoTClient(localClientConfig(context()));
const dir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-claim-'));
const site = uniqueId('factory');
let claim: ClaimCertificate;
const agents: DeviceAgent[] = [];

beforeAll(async () => {
  claim = await createClaimCertificate(context(), outputs().ClaimPolicyName ?? '');
});
afterAll(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const allowlistEntry = (serial: string) => ({ serial, site, region: 'eu-north', hardwareType: 'gw-v3' });

async function allow(...serials: string[]) {
  const { status, body } = await api().request('PUT', 'provisioning/allowlist', {
    entries: serials.map(allowlistEntry),
  });
  expect(status, JSON.stringify(body)).toBe(200);
}

/** A factory-fresh device: its own state dir and identity paths, the claim certificate, the broker. */
function device(serial: string, name = serial): ClaimProvisioningOptions {
  const root = join(dir, name);
  const { mqtt: broker } = context();
  return {
    serial,
    templateName: outputs().ProvisioningTemplateName ?? '',
    claim: { certificatePem: claim.certificatePem, privateKey: claim.privateKey },
    certificatePath: join(root, 'device.crt'),
    privateKeyPath: join(root, 'device.key'),
    trustRootPath: join(root, 'root.json'),
    stateDir: join(root, 'state'),
    connect: (identity) =>
      new MqttJsConnection(
        {
          deviceId: identity.clientId,
          certificatePem: identity.certificatePem,
          privateKey: identity.privateKey,
        },
        broker,
      ),
    answerTimeoutMs: 20_000,
  };
}

/** The certificate a refused device got from CreateCertificateFromCsr (kept pending for its retry). */
const pendingCertificateId = (options: ClaimProvisioningOptions) =>
  (
    JSON.parse(readFileSync(join(options.stateDir, 'claim', 'pending-certificate.json'), 'utf8')) as {
      certificateId: string;
    }
  ).certificateId;

async function certificateStatus(certificateId: string) {
  const { certificateDescription } = await iot().send(new DescribeCertificateCommand({ certificateId }));
  return certificateDescription?.status;
}

async function expectNoThingAndNoRecord(serial: string) {
  await expect(iot().send(new DescribeThingCommand({ thingName: serial }))).rejects.toBeInstanceOf(
    ResourceNotFoundException,
  );
  expect((await api('viewer').request('GET', `devices/${serial}`)).status).toBe(404);
}

/** A raw MQTT 5 session on the claim certificate, for what the device code never sends. */
async function claimSession(clientId: string) {
  const { mqtt: broker } = context();
  const client = await mqtt.connectAsync({
    protocol: 'mqtts',
    host: broker.host,
    port: broker.port,
    ca: broker.ca,
    cert: claim.certificatePem,
    key: claim.privateKey,
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  return client;
}

describe('provisioning by claim', () => {
  it('gives an allowlisted device its own certificate, thing, registry record and trust root; it then connects on its own identity', async () => {
    const serial = uniqueId('sn');
    await allow(serial);
    const options = device(serial);

    const result = await provisionByClaim(options);

    expect(result.provisioned).toBe(true);
    expect(await certificateStatus(result.certificateId)).toBe('ACTIVE');
    const thing = await iot().send(new DescribeThingCommand({ thingName: serial }));
    expect(thing.attributes).toEqual({ site, region: 'eu-north', hardwareType: 'gw-v3' });
    const principals = await iot().send(new ListThingPrincipalsCommand({ thingName: serial }));
    expect(principals.principals).toEqual([expect.stringContaining(result.certificateId)]);
    expect(result.hello).toMatchObject({
      deviceId: serial,
      site,
      region: 'eu-north',
      hardwareType: 'gw-v3',
      configuration: { shadowName: 'config' },
    });
    expect(JSON.parse(readFileSync(options.trustRootPath ?? '', 'utf8'))).toMatchObject({
      signed: { _type: 'root' },
    });
    const record = await api('viewer').getDevice(serial);
    expect(record).toMatchObject({
      deviceId: serial,
      site,
      hardwareType: 'gw-v3',
      certificateId: result.certificateId,
    });
    const { items } = await api('viewer').listDevices({ site });
    expect(items.map((d) => d.deviceId)).toContain(serial);
    const allowlisted = await api('viewer').request<Record<string, unknown>>(
      'GET',
      `provisioning/allowlist/${serial}`,
    );
    expect(allowlisted.body).toMatchObject({
      serial,
      claimed: true,
      claim: { certificateId: result.certificateId },
    });

    const agent = new DeviceAgent({
      identity: {
        deviceId: serial,
        certificatePem: readFileSync(options.certificatePath, 'utf8'),
        privateKey: readFileSync(options.privateKeyPath, 'utf8'),
      },
      broker: context().mqtt,
      firmwareVersion: '1.0.0',
    });
    agents.push(agent);
    await agent.start();
    await eventually(async () => {
      const seen = await api('viewer').getDevice(serial);
      return seen.firmwareVersion === '1.0.0' ? seen : undefined;
    });
  });

  it('refuses a serial not on the allowlist: no thing, no active certificate, no record', async () => {
    const serial = uniqueId('sn-unlisted');
    const options = device(serial);

    const failure = await provisionByClaim(options).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ClaimRefusedError);
    expect((failure as ClaimRefusedError).code).toBe('AccessDenied');
    expect(await certificateStatus(pendingCertificateId(options))).not.toBe('ACTIVE');
    await expectNoThingAndNoRecord(serial);
  });

  it('refuses a serial already used by another device, leaving that device as it was', async () => {
    const serial = uniqueId('sn-used');
    await allow(serial);
    const first = await provisionByClaim(device(serial, `${serial}-first`));
    const copycat = device(serial, `${serial}-copycat`);

    const failure = await provisionByClaim(copycat).catch((error: unknown) => error);

    expect((failure as ClaimRefusedError).code).toBe('AccessDenied');
    expect(await certificateStatus(pendingCertificateId(copycat))).not.toBe('ACTIVE');
    const principals = await iot().send(new ListThingPrincipalsCommand({ thingName: serial }));
    expect(principals.principals).toEqual([expect.stringContaining(first.certificateId)]);
    expect((await api('viewer').getDevice(serial)).certificateId).toBe(first.certificateId);
  });

  it('lets only one of two devices claiming one serial at once win', async () => {
    const serial = uniqueId('sn-race');
    await allow(serial);

    const outcomes = await Promise.allSettled([
      provisionByClaim(device(serial, `${serial}-a`)),
      provisionByClaim(device(serial, `${serial}-b`)),
    ]);

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect((refused.reason as ClaimRefusedError).code).toBe('AccessDenied');
    const principals = await iot().send(new ListThingPrincipalsCommand({ thingName: serial }));
    expect(principals.principals).toHaveLength(1);
  });

  it.each([
    ['without a serial', {}],
    ['with a malformed serial', { SerialNumber: 'not a serial!' }],
  ])('refuses a RegisterThing %s, creating nothing', async (_what, parameters) => {
    const serial = uniqueId('sn-malformed');
    await allow(serial);
    const topics = fleetProvisioningTopics(outputs().ProvisioningTemplateName ?? '');
    const keyPath = join(dir, `${serial}.key`);
    await createDeviceKey(keyPath);
    const csr = await createCertificateRequest(keyPath, serial);
    const client = await claimSession(`claim-${serial}`);
    try {
      await client.subscribeAsync(
        [
          topics.createFromCsrAccepted,
          topics.createFromCsrRejected,
          topics.provisionAccepted,
          topics.provisionRejected,
        ],
        { qos: 1 },
      );
      const answer = (topic: string) =>
        new Promise<{ topic: string; body: Record<string, unknown> }>((resolve) => {
          const onMessage = (t: string, payload: Buffer) => {
            if (!t.startsWith(topic)) return;
            client.off('message', onMessage);
            resolve({ topic: t, body: JSON.parse(payload.toString('utf8')) });
          };
          client.on('message', onMessage);
        });
      const created = answer(topics.createFromCsr);
      await client.publishAsync(topics.createFromCsr, JSON.stringify({ certificateSigningRequest: csr }), {
        qos: 1,
      });
      const certificate = (await created).body;
      const registered = answer(topics.provision);
      await client.publishAsync(
        topics.provision,
        JSON.stringify({ certificateOwnershipToken: certificate.certificateOwnershipToken, parameters }),
        { qos: 1 },
      );

      const reply = await registered;

      expect(reply.topic).toBe(topics.provisionRejected);
      expect(reply.body).toMatchObject({ errorCode: 'AccessDenied' });
      expect(await certificateStatus(String(certificate.certificateId))).not.toBe('ACTIVE');
      await expectNoThingAndNoRecord(serial);
      // The serial stays unclaimed for the real device.
      const entry = await api('viewer').request<Record<string, unknown>>(
        'GET',
        `provisioning/allowlist/${serial}`,
      );
      expect(entry.body).toMatchObject({ claimed: false });
    } finally {
      await client.endAsync(true);
    }
  });
});

describe('the simulator factory flow', () => {
  it('brings up simulated devices born by claim, which then run as registered devices', async () => {
    const prefix = uniqueId('simclaim');
    const fleet = new FleetSimulator({
      api: api(),
      broker: context().mqtt,
      size: 3,
      prefix,
      sites: [site],
      region: 'eu-north',
      firmwareVersion: '2.0.0',
      factory: {
        claim: { certificatePem: claim.certificatePem, privateKey: claim.privateKey },
        templateName: outputs().ProvisioningTemplateName ?? '',
        stateDir: join(dir, prefix),
      },
    });
    try {
      await fleet.start();

      for (const deviceId of [1, 2, 3].map((n) => `${prefix}-000${n}`)) {
        const device = await eventually(async () => {
          const seen = await api('viewer').getDevice(deviceId);
          return seen.firmwareVersion === '2.0.0' ? seen : undefined;
        });
        expect(device).toMatchObject({ site, region: 'eu-north' });
      }
    } finally {
      await fleet.stop();
    }
  });
});

describe('the claim certificate', () => {
  it.each([
    ['a device topic', (victim: string) => `edgeops/devices/${victim}/hello/accepted`],
    ['a shadow', (victim: string) => `$aws/things/${victim}/shadow/update/delta`],
    ['jobs', (victim: string) => `$aws/things/${victim}/jobs/notify-next`],
    ['another template', () => '$aws/provisioning-templates/other/provision/json/accepted'],
  ])('cannot subscribe to %s', async (_what, filter) => {
    const client = await claimSession(`claim-${uniqueId('probe')}`);
    try {
      await expect(client.subscribeAsync(filter(uniqueId('victim')), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
    } finally {
      await client.endAsync(true);
    }
  });

  it('cannot publish on a device topic, a shadow or a rule topic', async () => {
    const victim = uniqueId('victim');
    for (const topic of [
      `edgeops/devices/${victim}/telemetry`,
      `$aws/things/${victim}/shadow/update`,
      `edgeops/devices/${victim}/hello`,
    ]) {
      const client = await claimSession(`claim-${uniqueId('probe')}`);
      try {
        await expect(client.publishAsync(topic, '{}', { qos: 1 }), topic).rejects.toThrow();
      } finally {
        await client.endAsync(true);
      }
    }
  });

  it('cannot connect with a client id outside claim-*', async () => {
    await expect(claimSession(uniqueId('not-claim'))).rejects.toThrow();
  });
});
