/**
 * The trust chain end to end: real devices (mutual TLS, IoT Jobs) verifying TUF metadata the stack
 * signed with KMS, deltas built by the stack, and every refusal an attacker with IoT or bucket
 * access can provoke. Attacks create IoT jobs and bucket objects directly, as a stolen role
 * could; each one leaves its device on the version and slot it ran.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateJobCommand,
  DescribeJobExecutionCommand,
  DescribeThingCommand,
  GetJobDocumentCommand,
  IoTClient,
} from '@aws-sdk/client-iot';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobDocumentV2 } from '../../contract/ota';
import { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import { Metadata, serialize, signMetadata, type Timestamp } from '../../functions/domain/tuf-metadata';
import { markRequestsAsTls } from '../../functions/shared/local-aws-tls';
import { firmwareImage } from '../../scripts/local-aws/firmware-images';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { publishRelease } from '../../scripts/local-aws/releases';
import {
  currentRoot,
  generateRootKeys,
  loadRootKeys,
  nextRoot,
  onlineKeys,
  uploadRoot,
} from '../../scripts/trust/root-ceremony';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

const HARDWARE = ['rpi4', 'jetson-nano'];
// Versions of this file's own, so its releases hold the simulated images whatever ran before.
const image = (hw: string, version: string) => firmwareImage(hw, version);
const fleets: FleetSimulator[] = [];
const stateDirs: string[] = [];
const iot = () => new IoTClient(localClientConfig(context()));
/** The test's own S3 client (local AWS: see local-aws-tls.ts). */
const s3 = () => markRequestsAsTls(new S3Client({ ...localClientConfig(context()), forcePathStyle: true }));
const bucket = () => context().outputs.ArtifactBucketName;

interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
  bytes?: { sent: number; saved: number; deltaDevices: number; fullDevices: number };
  waves: { jobId: string | null }[];
}

/** Devices registered through the API (each gets the root then), on `version` and its image. */
async function startFleet(size: number, version: string, region = uniqueId('region')) {
  const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-trust-'));
  stateDirs.push(stateDir);
  const fleet = new FleetSimulator({
    api: api('operator'),
    broker: context().mqtt,
    size,
    prefix: uniqueId('trust'),
    region,
    sites: ['north'],
    hardwareTypes: HARDWARE,
    firmwareVersion: version,
    ota: { stateDir, timeFactor: 0.05, allowPlainHttp: true, factoryImage: (hw) => image(hw, version) },
  });
  fleets.push(fleet);
  await fleet.start();
  const devices = fleet.agents.map((agent, i) => ({
    deviceId: agent.deviceId,
    hardwareType: HARDWARE[i % HARDWARE.length] as string,
    bootFile: join(stateDir, agent.deviceId, 'boot.json'),
  }));
  const [device] = devices;
  if (!device) throw new Error('startFleet needs at least one device');
  // Rollouts plan deltas from the version the registry holds: wait until it has each report.
  await eventually(async () => {
    const versions = await Promise.all(
      devices.map(async (d) => (await api('viewer').getDevice(d.deviceId)).firmwareVersion),
    );
    return versions.every((v) => v === version) ? true : undefined;
  });
  return { fleet, region, devices, device };
}

async function rollOut(region: string, releaseId: string) {
  const { status, body } = await api('operator').request<{ rollout: RolloutBody }>('POST', 'rollouts', {
    releaseId,
    target: { filter: { region } },
    waves: [{ percent: 100, soakSeconds: 1 }],
  });
  expect(status, JSON.stringify(body)).toBe(201);
  return eventually(async () => {
    const rollout = (await api('viewer').request<RolloutBody>('GET', `rollouts/${body.rollout.rolloutId}`))
      .body;
    return ['succeeded', 'halted', 'aborted'].includes(rollout.status) ? rollout : undefined;
  }, 240_000);
}

/** What the stack put in a wave's job document, placeholders and all. */
async function jobDocumentOf(jobId: string): Promise<JobDocumentV2> {
  const { document } = await iot().send(new GetJobDocumentCommand({ jobId }));
  return JSON.parse(document ?? '{}') as JobDocumentV2;
}

/** A short-lived GET URL for an object, signed with the test's (attacker's) own credentials. */
const presign = (key: string) =>
  getSignedUrl(s3(), new GetObjectCommand({ Bucket: bucket(), Key: key }), { expiresIn: 600 });

async function putObject(key: string, body: Uint8Array) {
  await s3().send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: body }));
}

async function getObject(key: string): Promise<Buffer> {
  const response = await s3().send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
  if (!response.Body) throw new Error(`${key} has no body`);
  return Buffer.from(await response.Body.transformToByteArray());
}

/** Presigns every `${aws:iot:s3-presigned-url:...}` placeholder, as AWS IoT would. */
async function resolved(document: JobDocumentV2): Promise<JobDocumentV2> {
  const url = async (value: string) => {
    const match = /^\$\{aws:iot:s3-presigned-url:https:\/\/s3\.amazonaws\.com\/[^/]+\/(.+)\}$/.exec(value);
    return match?.[1] ? presign(match[1]) : value;
  };
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(document.trust.metadata)) metadata[name] = await url(value);
  return {
    ...document,
    trust: { metadata },
    artifacts: await Promise.all(
      document.artifacts.map(async (a) => ({
        ...a,
        url: await url(a.url),
        deltas: await Promise.all(a.deltas.map(async (d) => ({ ...d, url: await url(d.url) }))),
      })),
    ),
  };
}

/** Creates a job outside any rollout, as an attacker with IoT access could, and waits for its end. */
async function attack(deviceId: string, document: unknown) {
  const jobId = uniqueId('attack');
  const { thingArn } = await iot().send(new DescribeThingCommand({ thingName: deviceId }));
  await iot().send(
    new CreateJobCommand({ jobId, targets: [thingArn ?? ''], document: JSON.stringify(document) }),
  );
  return eventually(async () => {
    const { execution } = await iot().send(new DescribeJobExecutionCommand({ jobId, thingName: deviceId }));
    return execution?.status && ['SUCCEEDED', 'FAILED', 'REJECTED'].includes(execution.status)
      ? { status: execution.status, reason: execution.statusDetails?.detailsMap?.reason ?? '' }
      : undefined;
  }, 60_000);
}

async function expectUnchanged(device: { deviceId: string; bootFile: string }, version: string) {
  expect(JSON.parse(readFileSync(device.bootFile, 'utf8'))).toEqual({
    active: 'A',
    pending: null,
    trialBoots: 0,
  });
  expect((await api('viewer').getDevice(device.deviceId)).firmwareVersion).toBe(version);
}

beforeAll(async () => {
  for (const version of ['2.0.0', '2.1.0', '2.2.0'])
    await publishRelease(api('operator'), version, HARDWARE, (hw) => image(hw, version));
});

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
});

afterAll(() => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

let template: JobDocumentV2 | undefined;

describe('deltas in a rollout', () => {
  it('ships devices on two base versions a delta each and reports the bytes saved', async () => {
    const region = uniqueId('region');
    const onOld = await startFleet(2, '2.0.0', region);
    const onNewer = await startFleet(2, '2.1.0', region);

    const rollout = await rollOut(region, 'rel-2.2.0');

    expect(rollout.status, rollout.haltReason ?? '').toBe('succeeded');
    const document = await jobDocumentOf(rollout.waves[0]?.jobId ?? '');
    for (const entry of document.artifacts) {
      const bases = entry.deltas.map((d) => d.baseSha256).sort();
      expect(bases).toHaveLength(2);
    }
    const imageBytes = image('rpi4', '2.2.0').length;
    expect(rollout.bytes).toMatchObject({ deltaDevices: 4, fullDevices: 0 });
    expect(rollout.bytes?.saved).toBeGreaterThan(4 * imageBytes * 0.8);
    expect(rollout.bytes?.sent).toBeLessThan(4 * imageBytes * 0.2);
    for (const device of [...onOld.devices, ...onNewer.devices])
      expect((await api('viewer').getDevice(device.deviceId)).firmwareVersion).toBe('2.2.0');
    template = document;
  });
});

describe('refusals: the device stays on its working version', () => {
  const signedDocument = () => {
    if (!template) throw new Error('the delta rollout test must run first: it signs rel-2.2.0');
    return { ...template, artifacts: template.artifacts.map((a) => ({ ...a, deltas: [] })) };
  };
  const entryFor = (doc: JobDocumentV2, hardwareType: string) => {
    const entry = doc.artifacts.find((a) => a.hardwareType === hardwareType);
    if (!entry) throw new Error(`the job has no entry for ${hardwareType}`);
    return entry;
  };
  const rpi4 = (doc: JobDocumentV2) => entryFor(doc, 'rpi4');

  it('refuses an image with one byte changed (a write to the bucket)', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const tampered = Buffer.from(image('rpi4', '2.2.0'));
    tampered[100] = (tampered[100] ?? 0) ^ 0x01;
    const key = `attack/${uniqueId()}`;
    await putObject(key, tampered);
    const document = await resolved(signedDocument());
    rpi4(document).url = await presign(key);

    expect(await attack(device.deviceId, document)).toEqual({
      status: 'FAILED',
      reason: 'sha256-mismatch',
    });
    await expectUnchanged(device, '2.0.0');
  });

  it('refuses more bytes than the signed length', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const key = `attack/${uniqueId()}`;
    await putObject(key, Buffer.concat([image('rpi4', '2.2.0'), Buffer.from('and a payload')]));
    const document = await resolved(signedDocument());
    rpi4(document).url = await presign(key);

    expect(await attack(device.deviceId, document)).toEqual({
      status: 'FAILED',
      reason: 'size-mismatch',
    });
    await expectUnchanged(device, '2.0.0');
  });

  it('refuses metadata signed by a key the root does not name', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const timestamp = JSON.parse((await getObject('tuf/timestamp.json')).toString());
    const current = Metadata.fromJSON('timestamp' as never, timestamp as never);
    const forged = await signMetadata(current.signed as unknown as Timestamp, [
      LocalKeySigner.generate('ecdsa'),
    ]);
    const key = `attack/${uniqueId()}/timestamp.json`;
    await putObject(key, serialize(forged));
    const document = await resolved(signedDocument());
    document.trust.metadata['timestamp.json'] = await presign(key);

    const result = await attack(device.deviceId, document);
    expect(result.status).toBe('REJECTED');
    expect(result.reason).toMatch(/^signature-invalid/);
    await expectUnchanged(device, '2.0.0');
  });

  it('refuses an expired timestamp (the publisher stopped refreshing)', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const lambda = new LambdaClient(localClientConfig(context()));
    const FunctionName = context().outputs.TrustPublisherFunctionName;
    const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName }));
    const variables = config.Environment?.Variables ?? {};
    const refresh = () =>
      lambda.send(
        new InvokeCommand({ FunctionName, Payload: new TextEncoder().encode('{"action":"refresh"}') }),
      );
    try {
      await lambda.send(
        new UpdateFunctionConfigurationCommand({
          FunctionName,
          Environment: { Variables: { ...variables, TIMESTAMP_LIFETIME_SECONDS: '1' } },
        }),
      );
      await refresh();
      const stale = await getObject('tuf/timestamp.json');
      const key = `attack/${uniqueId()}/timestamp.json`;
      await putObject(key, stale);
      const document = await resolved(signedDocument());
      document.trust.metadata['timestamp.json'] = await presign(key);
      await new Promise((resolve) => setTimeout(resolve, 2_500));

      const result = await attack(device.deviceId, document);
      expect(result.status).toBe('REJECTED');
      expect(result.reason).toMatch(/^metadata-expired/);
      await expectUnchanged(device, '2.0.0');
    } finally {
      await lambda.send(
        new UpdateFunctionConfigurationCommand({ FunctionName, Environment: { Variables: variables } }),
      );
      await refresh();
    }
  });

  it('refuses a job naming one release with the signed target of another', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const document = await resolved(signedDocument());
    document.release = { releaseId: 'rel-2.1.0', version: '2.1.0' };

    const result = await attack(device.deviceId, document);
    expect(result.status).toBe('REJECTED');
    expect(result.reason).toMatch(/^release-mismatch/);
    await expectUnchanged(device, '2.0.0');
  });

  it('refuses the signed image of another release in place of this one (mix-and-match)', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const document = await resolved(signedDocument());
    const other = await api('viewer').request<{ artifacts: Record<string, { artifactId: string }> }>(
      'GET',
      'releases/rel-2.1.0',
    );
    rpi4(document).url = await presign(`artifacts/${other.body.artifacts.rpi4?.artifactId}`);

    expect(await attack(device.deviceId, document)).toEqual({
      status: 'FAILED',
      reason: 'sha256-mismatch',
    });
    await expectUnchanged(device, '2.0.0');
  });

  it('refuses a target signed for another hardware type', async () => {
    const { device } = await startFleet(1, '2.0.0');
    const document = await resolved(signedDocument());
    const jetson = entryFor(document, 'jetson-nano');
    rpi4(document).target = jetson.target;
    rpi4(document).url = jetson.url;

    const result = await attack(device.deviceId, document);
    expect(result.status).toBe('REJECTED');
    expect(result.reason).toMatch(/^wrong-hardware-type/);
    await expectUnchanged(device, '2.0.0');
  });

  it('refuses a downgrade an operator rolls out as an install, and the rollout halts', async () => {
    const { devices, region } = await startFleet(2, '2.2.0');

    const rollout = await rollOut(region, 'rel-2.1.0');

    expect(rollout.status).toBe('halted');
    const { body } = await api('viewer').request<{ items: { deviceId: string; reason?: string }[] }>(
      'GET',
      `rollouts/${rollout.rolloutId}/devices?limit=10`,
    );
    await eventually(async () => {
      const { body: view } = await api('viewer').request<{ items: { reason?: string }[] }>(
        'GET',
        `rollouts/${rollout.rolloutId}/devices?stage=failed&limit=10`,
      );
      return view.items.some((d) =>
        /^downgrade-refused: 2.1.0 is older than the running 2.2.0/.test(d.reason ?? ''),
      )
        ? true
        : undefined;
    });
    expect(body.items.length).toBe(2);
    for (const device of devices) await expectUnchanged(device, '2.2.0');
  });
});

describe('key rotation', () => {
  it('moves devices registered under root v1 through a root key rotation and an online key rotation', async () => {
    const { devices, region } = await startFleet(2, '2.0.0');
    const admin = api('admin');
    const before = await currentRoot(admin);
    const oldKeysDir = context().trust.rootKeysDir;
    const newKeysDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-rootkeys-'));
    stateDirs.push(newKeysDir);
    const oldKeys = await loadRootKeys(oldKeysDir);
    const newKeys = await generateRootKeys(newKeysDir, 3);
    const online = await onlineKeys(admin);
    const inUse = online.filter((k) => before?.signed.roles.targets?.keyIDs.includes(k.keyId));
    const spare = online.filter((k) => !inUse.includes(k));
    expect(spare.length, 'the e2e stack deploys a second online key generation').toBeGreaterThan(0);

    // A root signed by the old root keys alone cannot replace the root keys.
    const usurper = await nextRoot({
      previousVersion: before?.signed.version ?? 1,
      rootKeys: newKeys.map((k) => k.publicKey),
      threshold: 2,
      online: inUse,
      expires: new Date(Date.now() + 86_400_000),
      signers: oldKeys,
    });
    await expect(uploadRoot(admin, usurper)).rejects.toThrow(/400/);

    // Root keys: signed by two of the old keys and two of the new.
    await uploadRoot(
      admin,
      await nextRoot({
        previousVersion: before?.signed.version ?? 1,
        rootKeys: newKeys.map((k) => k.publicKey),
        threshold: 2,
        online: inUse,
        expires: new Date(Date.now() + 86_400_000),
        signers: [...oldKeys.slice(0, 2), ...newKeys.slice(0, 2)],
      }),
    );
    // Online keys: the new generation only.
    await uploadRoot(
      admin,
      await nextRoot({
        previousVersion: (before?.signed.version ?? 1) + 1,
        rootKeys: newKeys.map((k) => k.publicKey),
        threshold: 2,
        online: spare,
        expires: new Date(Date.now() + 86_400_000),
        signers: newKeys.slice(0, 2),
      }),
    );
    const after = await currentRoot(admin);
    expect(after?.signed.version).toBe((before?.signed.version ?? 1) + 2);

    const rollout = await rollOut(region, 'rel-2.1.0');

    expect(rollout.status, rollout.haltReason ?? '').toBe('succeeded');
    for (const device of devices)
      expect((await api('viewer').getDevice(device.deviceId)).firmwareVersion).toBe('2.1.0');
    const timestamp = JSON.parse((await getObject('tuf/timestamp.json')).toString()) as {
      signatures: { keyid: string }[];
    };
    expect(timestamp.signatures.map((s) => s.keyid)).toEqual(spare.map((k) => k.keyId).slice(0, 1));
  });
});
