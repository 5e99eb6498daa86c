/**
 * Releases of several components on the deployed stack: made through the API, built into deltas
 * per component, signed per component (targets.json as devices read it), and sent to a wave as
 * an `edgeops.ota.v3` job document. The device reports its version over MQTT as an agent would;
 * it takes no job, so the rollout is aborted once its first job exists.
 */
import { randomBytes } from 'node:crypto';
import { GetJobDocumentCommand, IoTClient } from '@aws-sdk/client-iot';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { type JobDocumentV3, SignedTargetFacts } from '../../contract/ota';
import { markRequestsAsTls } from '../../functions/shared/local-aws-tls';
import type { ArtifactKind, ReleaseView } from '../../operator-client/operator-api-client';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { api, context, eventually, uniqueId } from './support';

/** Local AWS counts an upload as TLS only with this header (README: what local AWS cannot show). */
const OVER_TLS = { headers: { 'x-forwarded-proto': 'https' } };
const iot = () => new IoTClient(localClientConfig(context()));
const s3 = () => markRequestsAsTls(new S3Client({ ...localClientConfig(context()), forcePathStyle: true }));
const version = (tag: string) => `${tag}.${Date.now() % 100_000}-${randomBytes(3).toString('hex')}`;

interface ApiErrors {
  errors: { field: string; message: string }[];
}

/** Uploads `bytes` as an artifact and waits until the backend sealed it. */
async function readyArtifact(
  kind: ArtifactKind,
  hardwareType: string,
  artifactVersion: string,
  bytes: Buffer,
) {
  const created = await api().createArtifact({
    kind,
    hardwareType,
    version: artifactVersion,
    size: bytes.length,
  });
  const parts = await api().uploadArtifactBytes(created.upload, bytes, OVER_TLS);
  await api().completeArtifactUpload(created.artifact.artifactId, parts);
  return eventually(async () => {
    const artifact = await api('viewer').getArtifact(created.artifact.artifactId);
    if (artifact.status === 'rejected') throw new Error(`${artifact.artifactId} was rejected`);
    return artifact.status === 'ready' ? artifact : undefined;
  }, 60_000);
}

/** The next version of an image: a few bytes changed, so a delta to it is small. */
function edited(image: Buffer): Buffer {
  const next = Buffer.from(image);
  randomBytes(256).copy(next, 1000);
  return next;
}

/** Reports `firmwareVersion` in the device's classic shadow over MQTT, as the agent does. */
async function reportVersion(
  registration: Awaited<ReturnType<ReturnType<typeof api>['registerDevice']>>,
  firmwareVersion: string,
) {
  const { mqtt: broker } = context();
  const client = await mqtt.connectAsync({
    protocol: 'mqtts',
    host: broker.host,
    port: broker.port,
    ca: broker.ca,
    cert: registration.credentials.certificatePem,
    key: registration.credentials.privateKey,
    clientId: registration.device.deviceId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  try {
    await client.publishAsync(
      `$aws/things/${registration.device.deviceId}/shadow/update`,
      JSON.stringify({ state: { reported: { firmwareVersion } } }),
      { qos: 1 },
    );
  } finally {
    await client.endAsync();
  }
  await eventually(async () => {
    const device = await api('viewer').getDevice(registration.device.deviceId);
    return device.firmwareVersion === firmwareVersion ? device : undefined;
  }, 60_000);
}

describe('releases of several components', () => {
  it('makes one through the API and shows its components per hardware type, in install order', async () => {
    const v = version('9');
    const [rootfsRpi, rootfsJetson, app] = await Promise.all([
      readyArtifact('firmware', 'rpi4', v, randomBytes(2000)),
      readyArtifact('firmware', 'jetson-nano', v, randomBytes(3000)),
      readyArtifact('app', 'rpi4', '7.1.0', randomBytes(1000)),
    ]);

    const { status, body } = await api('operator').request<ReleaseView>('POST', 'releases', {
      version: v,
      components: [
        { name: 'rootfs', handler: 'rootfs', artifacts: [rootfsRpi.artifactId, rootfsJetson.artifactId] },
        {
          name: 'app',
          handler: 'docker-compose',
          settings: { project: 'edge' },
          artifacts: [app.artifactId],
        },
      ],
      downloadLimits: { 'jetson-nano': { maxSeconds: 7200 } },
    });

    expect(status, JSON.stringify(body)).toBe(201);
    expect(body.components).toEqual({
      'jetson-nano': [
        {
          name: 'rootfs',
          handler: 'rootfs',
          order: 0,
          settings: {},
          artifact: expect.objectContaining({
            artifactId: rootfsJetson.artifactId,
            sha256: rootfsJetson.sha256,
          }),
        },
      ],
      rpi4: [
        expect.objectContaining({ name: 'rootfs', order: 0 }),
        {
          name: 'app',
          handler: 'docker-compose',
          order: 1,
          settings: { project: 'edge' },
          artifact: expect.objectContaining({
            artifactId: app.artifactId,
            kind: 'app',
            version: '7.1.0',
            size: 1000,
          }),
        },
      ],
    });
    expect(body.downloadLimits).toEqual({ 'jetson-nano': { maxSeconds: 7200 } });
    expect(body).not.toHaveProperty('artifacts');
    expect(await api('viewer').getRelease(`rel-${v}`)).toEqual(body);
    expect((await api('viewer').listReleases({ limit: 5 })).items).toContainEqual(body);
  });

  it('answers 400 naming the component field, and writes nothing', async () => {
    const ready = await readyArtifact('firmware', 'rpi4', '1.0.0', randomBytes(100));
    const { artifact: waiting } = await api().createArtifact({
      kind: 'app',
      hardwareType: 'rpi4',
      version: '1.0.0',
      size: 100,
    });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        {
          components: [
            { name: 'rootfs', handler: 'rootfs', artifacts: [ready.artifactId] },
            { name: 'app', handler: 'app', artifacts: [waiting.artifactId] },
          ],
        },
        'components.1.artifacts.0',
        /is awaiting-upload, not ready/,
      ],
      [
        {
          components: [
            { name: 'rootfs', handler: 'rootfs', artifacts: [ready.artifactId] },
            { name: 'rootfs', handler: 'rootfs', artifacts: [`art-${crypto.randomUUID()}`] },
          ],
        },
        'components.1.name',
        /already the name of components.0/,
      ],
      [
        {
          artifacts: [ready.artifactId],
          components: [{ name: 'app', handler: 'app', artifacts: [ready.artifactId] }],
        },
        'components',
        /not both/,
      ],
      [
        { components: [{ name: 'App', handler: 'app', artifacts: [ready.artifactId] }] },
        'components.0.name',
        /a-z, 0-9 and -/,
      ],
    ];
    for (const [change, field, message] of cases) {
      const v = version('8');

      const { status, body } = await api().request<ApiErrors>('POST', 'releases', { version: v, ...change });

      expect(status, JSON.stringify(body)).toBe(400);
      expect(body.errors).toContainEqual({ field, message: expect.stringMatching(message) });
      expect((await api().request('GET', `releases/rel-${v}`)).status).toBe(404);
    }
  });

  it('signs each component with its facts, builds deltas per component, and sends the wave a v3 document', async () => {
    const base = version('1');
    const next = version('2');
    const rootfs = randomBytes(64 * 1024);
    const appImage = randomBytes(32 * 1024);
    const [rootfsV1, appV1] = await Promise.all([
      readyArtifact('firmware', 'rpi4', base, rootfs),
      readyArtifact('app', 'rpi4', '7.0.0', appImage),
    ]);
    await api().createRelease({
      version: base,
      components: [
        { name: 'rootfs', handler: 'rootfs', artifacts: [rootfsV1.artifactId] },
        { name: 'app', handler: 'docker-compose', artifacts: [appV1.artifactId] },
      ],
    });
    const [rootfsV2, appV2, config] = await Promise.all([
      readyArtifact('firmware', 'rpi4', next, edited(rootfs)),
      readyArtifact('app', 'rpi4', '7.1.0', edited(appImage)),
      readyArtifact('config', 'rpi4', '2026.1', randomBytes(512)),
    ]);
    const released = await api().createRelease({
      version: next,
      components: [
        { name: 'rootfs', handler: 'rootfs', artifacts: [rootfsV2.artifactId] },
        {
          name: 'app',
          handler: 'docker-compose',
          settings: { project: 'edge' },
          artifacts: [appV2.artifactId],
        },
        {
          name: 'config',
          handler: 'file',
          settings: { path: '/etc/edge/config.yaml', 'restart-unit': 'edge.service' },
          artifacts: [config.artifactId],
        },
      ],
    });
    const region = uniqueId('region');
    const registration = await api().registerDevice({
      deviceId: uniqueId('mc'),
      hardwareType: 'rpi4',
      site: 'north',
      region,
    });
    await reportVersion(registration, base);

    const { status, body } = await api().request<{ rollout: { rolloutId: string } }>('POST', 'rollouts', {
      releaseId: released.releaseId,
      target: { filter: { region } },
      waves: [{ percent: 100, soakSeconds: 1 }],
    });
    expect(status, JSON.stringify(body)).toBe(201);
    const { rolloutId } = body.rollout;
    try {
      const jobId = await eventually(async () => {
        const rollout = await api('viewer').request<{
          status: string;
          haltReason: string | null;
          waves: { jobId: string | null }[];
        }>('GET', `rollouts/${rolloutId}`);
        if (!['running', 'pausing', 'paused'].includes(rollout.body.status))
          throw new Error(`rollout ${rollout.body.status}: ${rollout.body.haltReason}`);
        const id = rollout.body.waves[0]?.jobId;
        if (!id) return undefined;
        // The job exists once its document can be read.
        return (await iot().send(new GetJobDocumentCommand({ jobId: id }))).document ? id : undefined;
      }, 240_000);

      const { document } = await iot().send(new GetJobDocumentCommand({ jobId }));
      const job = JSON.parse(document ?? '{}') as JobDocumentV3;
      expect(job).toMatchObject({
        schema: 'edgeops.ota.v3',
        rolloutId,
        operation: 'install',
        release: { releaseId: released.releaseId, version: next },
      });
      const [rpi4] = job.artifacts;
      expect(job.artifacts).toHaveLength(1);
      expect(rpi4?.hardwareType).toBe('rpi4');
      expect(rpi4?.components.map((c) => [c.name, c.target, c.deltas.length])).toEqual([
        ['rootfs', `${released.releaseId}/rpi4/rootfs/image`, 1],
        ['app', `${released.releaseId}/rpi4/app/image`, 1],
        ['config', `${released.releaseId}/rpi4/config/image`, 0],
      ]);
      const app = rpi4?.components[1];
      expect(app?.deltas[0]).toEqual({
        baseSha256: appV1.sha256,
        target: `${released.releaseId}/rpi4/app/delta-${appV1.sha256}`,
        url: expect.stringMatching(
          new RegExp(
            `^\\$\\{aws:iot:s3-presigned-url:https://s3\\.amazonaws\\.com/[^/]+/deltas/${released.releaseId}/rpi4/app/${appV1.sha256}\\.zst\\}$`,
          ),
        ),
      });

      // What devices read: the signed targets, each with its component's facts.
      const targetsJson = await s3().send(
        new GetObjectCommand({ Bucket: context().outputs.ArtifactBucketName, Key: 'tuf/targets.json' }),
      );
      const signed = JSON.parse((await targetsJson.Body?.transformToString()) ?? '{}') as {
        signed: {
          targets: Record<
            string,
            { length: number; hashes: { sha256: string }; custom: { edgeops: unknown } }
          >;
        };
      };
      const factsOf = (path: string) => {
        const target = signed.signed.targets[path];
        if (!target) throw new Error(`${path} is not signed`);
        return {
          length: target.length,
          sha256: target.hashes.sha256,
          ...SignedTargetFacts.parse(target.custom.edgeops),
        };
      };
      expect(factsOf(`${released.releaseId}/rpi4/config/image`)).toEqual({
        length: 512,
        sha256: config.sha256,
        releaseId: released.releaseId,
        version: next,
        hardwareType: 'rpi4',
        kind: 'image',
        component: {
          name: 'config',
          handler: 'file',
          order: 2,
          version: '2026.1',
          settings: { path: '/etc/edge/config.yaml', 'restart-unit': 'edge.service' },
        },
      });
      expect(factsOf(`${released.releaseId}/rpi4/app/delta-${appV1.sha256}`)).toMatchObject({
        kind: 'delta',
        base: { sha256: appV1.sha256, length: appV1.size },
        image: { sha256: appV2.sha256, length: appV2.size },
        component: {
          name: 'app',
          handler: 'docker-compose',
          order: 1,
          version: '7.1.0',
          settings: { project: 'edge' },
        },
      });
      expect(factsOf(`${released.releaseId}/rpi4/rootfs/delta-${rootfsV1.sha256}`).component).toMatchObject({
        name: 'rootfs',
        handler: 'rootfs',
        order: 0,
        version: next,
      });
      for (const c of rpi4?.components ?? [])
        for (const t of [c.target, ...c.deltas.map((d) => d.target)]) factsOf(t);
    } finally {
      await api().request('POST', `rollouts/${rolloutId}/abort`);
    }
  });
});
