import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobDocumentV2 } from '../../contract/ota';
import { installTrustRoot, verifyRelease } from '../../device/ota/release-trust';
import { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import {
  buildRoot,
  Metadata,
  parseRoot,
  publishMetadata,
  serialize,
  signMetadata,
  type Timestamp,
} from '../../functions/domain/tuf-metadata';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { LocalReleaseRepository } from '../../simulator/local-release-repository';

const REL2 = { releaseId: 'rel-2.0.0', version: '2.0.0' };
const REL1 = { releaseId: 'rel-1.0.0', version: '1.0.0' };
const IMAGE2 = Buffer.from('image 2.0.0 for rpi4 '.repeat(100));
const IMAGE1 = Buffer.from('image 1.0.0 for rpi4 '.repeat(90));

let server: LocalArtifactServer;
let repo: LocalReleaseRepository;
let trustDir: string;

beforeEach(async () => {
  server = await startLocalArtifactServer();
  repo = await LocalReleaseRepository.create(server);
  trustDir = await mkdtemp(join(tmpdir(), 'edgeops-trust-'));
  await installTrustRoot(trustDir, repo.root);
});

afterEach(async () => {
  await server.close();
  await rm(trustDir, { recursive: true, force: true });
});

function onlineKey() {
  const [key] = repo.onlineKeys;
  if (!key) throw new Error('the repository has no online key');
  return key;
}

const verify = (document: unknown, overrides: { runningVersion?: string; hardwareType?: string } = {}) =>
  verifyRelease({
    trustDir,
    document: JobDocumentV2.parse(document),
    hardwareType: overrides.hardwareType ?? 'rpi4',
    runningVersion: overrides.runningVersion ?? '1.0.0',
    now: new Date(),
    log: () => {},
  });

async function installJob() {
  const image = await repo.addImage(REL2, 'rpi4', IMAGE2);
  return repo.jobDocument({
    rolloutId: 'ro-1',
    operation: 'install',
    release: REL2,
    artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
  });
}

describe('verifyRelease', () => {
  it('gives the signed length and hash of the image the job names', async () => {
    const verdict = await verify(await installJob());
    expect(verdict).toMatchObject({
      ok: true,
      image: {
        path: 'rel-2.0.0/rpi4/image',
        length: IMAGE2.length,
        facts: { version: '2.0.0', kind: 'image' },
      },
    });
  });

  it('refuses metadata signed by a key the root does not name', async () => {
    const document = await installJob();
    const attacker = LocalKeySigner.generate('ecdsa');
    const forged = Metadata.fromJSON(
      'timestamp' as never,
      JSON.parse(repo.metadataFile('timestamp.json')?.toString()) as never,
    );
    const resigned = await signMetadata(forged.signed as unknown as Timestamp, [attacker]);
    repo.putMetadataFile('timestamp.json', serialize(resigned));
    const verdict = await verify(document);
    expect(verdict).toMatchObject({ ok: false });
    expect(verdict.ok || verdict.reason).toMatch(/^signature-invalid/);
  });

  it('refuses a tampered signed byte', async () => {
    const document = await installJob();
    const targets = repo
      .metadataFile('targets.json')
      ?.toString()
      .replace(/"length":\d+/, '"length":1');
    repo.putMetadataFile('targets.json', Buffer.from(targets));
    const verdict = await verify(document);
    expect(verdict.ok || verdict.reason).toMatch(/^signature-invalid/);
  });

  it('refuses an expired timestamp, even one properly signed', async () => {
    const image = await repo.addImage(REL2, 'rpi4', IMAGE2);
    const past = new Date(Date.now() - 10 * 86_400_000);
    const stale = await publishMetadata({
      root: parseRoot(repo.root),
      entries: [],
      previous: { targets: 50, snapshot: 50, timestamp: 50 },
      signers: repo.onlineKeys,
      now: past,
      lifetimes: { targetsSeconds: 60, snapshotSeconds: 60, timestampSeconds: 60 },
    });
    for (const name of ['targets.json', 'snapshot.json', 'timestamp.json'] as const)
      repo.putMetadataFile(name, stale.files[name]);
    const verdict = await verify(
      repo.jobDocument({
        rolloutId: 'ro-1',
        operation: 'install',
        release: REL2,
        artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
      }),
    );
    expect(verdict.ok || verdict.reason).toMatch(/^metadata-expired/);
  });

  it('refuses a replayed older timestamp after seeing a newer one', async () => {
    const document = await installJob();
    const old = repo.metadataFile('timestamp.json');
    expect((await verify(document)).ok).toBe(true);
    await repo.refresh();
    expect((await verify(document)).ok).toBe(true);
    repo.putMetadataFile('timestamp.json', old);
    const verdict = await verify(document);
    expect(verdict.ok || verdict.reason).toMatch(/^metadata-rollback/);
  });

  it('refuses an older version, unless it is a rollback signed for this rollout', async () => {
    const image = await repo.addImage(REL1, 'rpi4', IMAGE1);
    const install = repo.jobDocument({
      rolloutId: 'ro-2',
      operation: 'install',
      release: REL1,
      artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
    });
    const refused = await verify(install, { runningVersion: '2.0.0' });
    expect(refused.ok || refused.reason).toMatch(/^downgrade-refused: 1.0.0 is older than the running 2.0.0/);

    // The operator asks for the rollback: the backend signs it for this rollout only.
    const rollback = await repo.addRollback(REL1, 'rpi4', 'ro-3', IMAGE1, new Date(Date.now() + 3_600_000));
    const signed = repo.jobDocument({
      rolloutId: 'ro-3',
      operation: 'rollback',
      release: REL1,
      artifacts: [{ hardwareType: 'rpi4', target: rollback.target, url: rollback.url }],
    });
    expect(await verify(signed, { runningVersion: '2.0.0' })).toMatchObject({ ok: true });
    // The same signed rollback replayed in another rollout's job is refused.
    const replayed = { ...signed, rolloutId: 'ro-4' };
    const verdict = await verify(replayed, { runningVersion: '2.0.0' });
    expect(verdict.ok || verdict.reason).toMatch(/^downgrade-refused: .* signed for rollout ro-3/);
  });

  it('refuses a signed rollback past its end', async () => {
    const rollback = await repo.addRollback(REL1, 'rpi4', 'ro-3', IMAGE1, new Date(Date.now() - 1000));
    const verdict = await verify(
      repo.jobDocument({
        rolloutId: 'ro-3',
        operation: 'rollback',
        release: REL1,
        artifacts: [{ hardwareType: 'rpi4', target: rollback.target, url: rollback.url }],
      }),
      { runningVersion: '2.0.0' },
    );
    expect(verdict.ok || verdict.reason).toMatch(/^downgrade-refused: the signed rollback ended/);
  });

  it('refuses metadata of one release with the target of another', async () => {
    const one = await repo.addImage(REL1, 'rpi4', IMAGE1);
    await repo.addImage(REL2, 'rpi4', IMAGE2);
    const verdict = await verify(
      repo.jobDocument({
        rolloutId: 'ro-1',
        operation: 'install',
        release: REL2,
        artifacts: [{ hardwareType: 'rpi4', target: one.target, url: one.url }],
      }),
      { runningVersion: '0.9.0' },
    );
    expect(verdict.ok || verdict.reason).toMatch(/^release-mismatch/);
  });

  it('refuses a target signed for another hardware type', async () => {
    const other = await repo.addImage(REL2, 'jetson', IMAGE2);
    const verdict = await verify(
      repo.jobDocument({
        rolloutId: 'ro-1',
        operation: 'install',
        release: REL2,
        artifacts: [{ hardwareType: 'rpi4', target: other.target, url: other.url }],
      }),
    );
    expect(verdict.ok || verdict.reason).toMatch(/^wrong-hardware-type: .* signed for jetson/);
  });

  it('refuses a target the metadata does not list', async () => {
    await repo.addImage(REL1, 'rpi4', IMAGE1);
    const verdict = await verify(
      repo.jobDocument({
        rolloutId: 'ro-1',
        operation: 'install',
        release: REL2,
        artifacts: [{ hardwareType: 'rpi4', target: 'rel-2.0.0/rpi4/image', url: server.url('x') }],
      }),
    );
    expect(verdict.ok || verdict.reason).toMatch(/^target-not-signed/);
  });

  it('follows a root rotation to new root and online keys, and then refuses the old online key', async () => {
    const document = await installJob();
    expect((await verify(document)).ok).toBe(true);
    const oldOnline = onlineKey();
    const newRoot = LocalKeySigner.generate();
    const newOnline = LocalKeySigner.generate('ecdsa');
    repo.onlineKeys.splice(0, 1, newOnline);
    await repo.rotateRoot(
      buildRoot({
        version: 2,
        expires: new Date(Date.now() + 86_400_000),
        rootKeys: [newRoot.publicKey],
        threshold: 1,
        online: {
          targets: [newOnline.publicKey],
          snapshot: [newOnline.publicKey],
          timestamp: [newOnline.publicKey],
        },
      }),
      [...repo.rootKeys, newRoot],
    );
    const rotated = { ...document, trust: { metadata: repo.metadataUrls() } };
    expect(Object.keys(rotated.trust.metadata)).toContain('2.root.json');
    expect(await verify(rotated)).toMatchObject({ ok: true });

    // Metadata still signed by the retired online key is refused now.
    repo.onlineKeys.splice(0, 1, oldOnline);
    await expect(repo.refresh()).rejects.toThrow(/wants 1 targets key/);
  });

  it('refuses a new root that the old root keys did not sign', async () => {
    const usurper = LocalKeySigner.generate();
    await expect(
      repo.rotateRoot(
        buildRoot({
          version: 2,
          expires: new Date(Date.now() + 86_400_000),
          rootKeys: [usurper.publicKey],
          threshold: 1,
          online: {
            targets: [onlineKey().publicKey],
            snapshot: [onlineKey().publicKey],
            timestamp: [onlineKey().publicKey],
          },
        }),
        [usurper],
      ),
    ).rejects.toThrow(/lacks a threshold of signatures from root v1 keys/);
  });
});

describe('verifyRelease metadata fetches', () => {
  let proxy: Server | undefined;

  afterEach(async () => {
    proxy?.closeAllConnections();
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
    proxy = undefined;
  });

  /**
   * Routes the job's metadata through a proxy on 127.0.0.1 that answers each request after
   * `delayMs`, or drops the first connection for each file when `dropFirst` is set.
   */
  async function throughProxy(document: JobDocumentV2, options: { delayMs?: number; dropFirst?: boolean }) {
    const seen = new Set<string>();
    proxy = createServer((req, res) => {
      const original = new URL(req.url ?? '/', 'http://proxy').searchParams.get('u') ?? '';
      if (options.dropFirst && !seen.has(original)) {
        seen.add(original);
        req.socket.destroy();
        return;
      }
      const relay = async () => {
        const upstream = await fetch(original);
        res.writeHead(upstream.status, { 'content-type': 'application/json' });
        res.end(Buffer.from(await upstream.arrayBuffer()));
      };
      // The test may be over (and the artifact server closed) by the time a delayed relay runs.
      setTimeout(() => relay().catch(() => res.destroy()), options.delayMs ?? 0);
    });
    await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    const metadata = Object.fromEntries(
      Object.entries(document.trust.metadata).map(([name, url]) => [
        name,
        `http://127.0.0.1:${port}/${name}?u=${encodeURIComponent(url)}`,
      ]),
    );
    return { ...document, trust: { ...document.trust, metadata } };
  }

  const verifyWith = (
    document: JobDocumentV2,
    timing: { metadataFetchTimeoutMs: number; timeFactor?: number },
  ) =>
    verifyRelease({
      trustDir,
      document,
      hardwareType: 'rpi4',
      runningVersion: '1.0.0',
      now: new Date(),
      log: () => {},
      ...timing,
    });

  it('refuses when a metadata file takes longer than the fetch timeout on a device (time factor 1)', async () => {
    const slow = await throughProxy(JobDocumentV2.parse(await installJob()), { delayMs: 400 });

    const verdict = await verifyWith(slow, { metadataFetchTimeoutMs: 150 });

    expect(verdict).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^metadata-.*(timeout|aborted)/i),
    });
  });

  it('waits 1/timeFactor as long under a simulator that runs time faster', async () => {
    const slow = await throughProxy(JobDocumentV2.parse(await installJob()), { delayMs: 400 });

    const verdict = await verifyWith(slow, { metadataFetchTimeoutMs: 150, timeFactor: 0.1 });

    expect(verdict).toMatchObject({ ok: true });
  });

  it('tries a dropped connection again within the deadline', async () => {
    const flaky = await throughProxy(JobDocumentV2.parse(await installJob()), { dropFirst: true });

    const verdict = await verifyWith(flaky, { metadataFetchTimeoutMs: 10_000 });

    expect(verdict).toMatchObject({ ok: true });
  });
});
