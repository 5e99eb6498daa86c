/**
 * Delta v2 on the deployed stack (docs/delta-format.md): one rollout to two devices on the same
 * base, one agent that reports EDGD v1 in its shadow and one that reports no codecs (an agent
 * from before codecs). The builder keeps the smaller EDGD patch and a zstd patch beside it, both
 * are signed, and each device fetches exactly the one for its agent.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { deltaPathForCodec } from '../../contract/delta-codecs';
import { SignedTargetFacts } from '../../contract/ota';
import { markRequestsAsTls } from '../../functions/shared/local-aws-tls';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { publishRelease } from '../../scripts/local-aws/releases';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { sha256 } from '../support/bytes';
import { api, context, eventually, uniqueId } from './support';

const HARDWARE = 'rpi4';
const s3 = () => markRequestsAsTls(new S3Client({ ...localClientConfig(context()), forcePathStyle: true }));
const run = `${Date.now() % 100_000}-${randomBytes(3).toString('hex')}`;
const FROM = `8.0.${run}`;
const TO = `8.1.${run}`;
/**
 * Moved code: the base with a small difference every 64 bytes (addresses that changed) and some
 * new bytes. EDGD covers it with approximate matches; zstd's exact matches stop at each change.
 */
const BASE = randomBytes(256 * 1024);
const IMAGE = Buffer.concat([BASE.subarray(0, 100_000), randomBytes(2000), BASE.subarray(100_000)]);
for (let i = 5_000; i < IMAGE.length - 5_000; i += 64) IMAGE[i] = ((IMAGE[i] ?? 0) + 4) & 0xff;

const fleets: FleetSimulator[] = [];
const stateDirs: string[] = [];

async function startDevice(region: string, site: string, agent: 'new' | 'old') {
  const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-delta-v2-'));
  stateDirs.push(stateDir);
  const fleet = new FleetSimulator({
    api: api('operator'),
    broker: context().mqtt,
    size: 1,
    prefix: uniqueId(`dv2${agent}`),
    region,
    sites: [site],
    hardwareTypes: [HARDWARE],
    firmwareVersion: FROM,
    ota: {
      stateDir,
      timeFactor: 0.05,
      allowPlainHttp: true,
      factoryImage: () => BASE,
      ...(agent === 'old' ? { deltaCodecs: [] } : {}),
    },
  });
  fleets.push(fleet);
  await fleet.start();
  const [device] = fleet.agents;
  if (!device) throw new Error('no device');
  await eventually(async () =>
    (await api('viewer').getDevice(device.deviceId)).firmwareVersion === FROM ? true : undefined,
  );
  return device;
}

afterAll(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

describe('delta v2', () => {
  it('sends a device that reports EDGD the EDGD patch and a device on the old agent the zstd one', async () => {
    await publishRelease(api('operator'), FROM, [HARDWARE], () => BASE);
    const releaseId = await publishRelease(api('operator'), TO, [HARDWARE], () => IMAGE);
    const region = uniqueId('region');
    const site = uniqueId('site');
    const newAgent = await startDevice(region, site, 'new');
    const oldAgent = await startDevice(region, site, 'old');
    expect(oldAgent.deviceId).not.toBe(newAgent.deviceId);

    const started = await api('operator').request<{ rollout: { rolloutId: string } }>('POST', 'rollouts', {
      releaseId,
      target: { filter: { region } },
      waves: [{ percent: 100, soakSeconds: 1 }],
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const { rolloutId } = started.body.rollout;
    const finished = await eventually(async () => {
      const { body } = await api('viewer').request<{
        status: string;
        bytes?: { sent: number; saved: number; deltaDevices: number; fullDevices: number };
      }>('GET', `rollouts/${rolloutId}`);
      return body.status === 'running' ? undefined : body;
    }, 240_000);
    expect(finished.status).toBe('succeeded');
    expect(newAgent.firmwareVersion).toBe(TO);
    expect(oldAgent.firmwareVersion).toBe(TO);

    // Both patches are signed, each at its codec's path; EDGD is the smaller.
    const targetsJson = await s3().send(
      new GetObjectCommand({ Bucket: context().outputs.ArtifactBucketName, Key: 'tuf/targets.json' }),
    );
    const signed = JSON.parse((await targetsJson.Body?.transformToString()) ?? '{}') as {
      signed: { targets: Record<string, { length: number; custom: { edgeops: unknown } }> };
    };
    const factsOf = (path: string) => {
      const target = signed.signed.targets[path];
      if (!target) throw new Error(`${path} is not signed`);
      return { length: target.length, ...SignedTargetFacts.parse(target.custom.edgeops) };
    };
    const zstdPath = `${releaseId}/${HARDWARE}/delta-${sha256(BASE)}`;
    const zstd = factsOf(zstdPath);
    const edgd = factsOf(deltaPathForCodec(zstdPath, 'edgeops-bsdiff-v1'));
    expect(zstd).toMatchObject({
      kind: 'delta',
      base: { sha256: sha256(BASE) },
      image: { sha256: sha256(IMAGE) },
    });
    expect(zstd.codec).toBeUndefined();
    expect(edgd).toMatchObject({
      kind: 'delta',
      codec: 'edgeops-bsdiff-v1',
      image: { sha256: sha256(IMAGE) },
    });
    expect(edgd.length).toBeLessThan(zstd.length);

    // Each device took a delta, and together they fetched exactly one patch of each codec.
    expect(finished.bytes).toMatchObject({
      deltaDevices: 2,
      fullDevices: 0,
      sent: zstd.length + edgd.length,
      saved: 2 * IMAGE.length - zstd.length - edgd.length,
    });
  });
});
