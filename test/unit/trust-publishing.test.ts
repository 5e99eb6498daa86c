import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../contract/version-order';
import { InMemoryTrustFiles, InMemoryTrustStore } from '../../functions/adapters/in-memory-trust-repository';
import { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import {
  buildRoot,
  DEFAULT_LIFETIMES,
  Metadata,
  type MetadataSigner,
  signMetadata,
  type TargetEntry,
} from '../../functions/domain/tuf-metadata';
import { makePublishTrust } from '../../functions/use-cases/trust/publish-trust';

const online = LocalKeySigner.generate('ecdsa');
const rootKeys = [LocalKeySigner.generate(), LocalKeySigner.generate(), LocalKeySigner.generate()];
const year = new Date(Date.now() + 365 * 86_400_000);

async function rootV1(threshold = 2, signers: readonly MetadataSigner[] = rootKeys.slice(0, 2)) {
  const root = buildRoot({
    version: 1,
    expires: year,
    rootKeys: rootKeys.map((k) => k.publicKey),
    threshold,
    online: { targets: [online.publicKey], snapshot: [online.publicKey], timestamp: [online.publicKey] },
  });
  return (await signMetadata(root, signers)).toJSON();
}

function repository(signers: MetadataSigner[] = [online]) {
  const store = new InMemoryTrustStore();
  const files = new InMemoryTrustFiles();
  const publish = makePublishTrust({
    store,
    files,
    signers: async () => signers,
    clock: { now: () => new Date() },
    lifetimes: DEFAULT_LIFETIMES,
  });
  return { store, files, publish };
}

const entry = (path: string, sha256: string): TargetEntry => ({
  path,
  length: 10,
  sha256,
  facts: { releaseId: 'rel-1', version: '1', hardwareType: 'rpi4', kind: 'image' },
});

describe('publishing the trust repository', () => {
  it('takes a root signed by a threshold of its keys and publishes every online role', async () => {
    const { publish, files, store } = repository();
    const publication = await publish({ kind: 'root', root: await rootV1() });
    expect(publication).toMatchObject({
      rootVersion: 1,
      versions: { targets: 1, snapshot: 1, timestamp: 1 },
    });
    expect([...files.files.keys()].sort()).toEqual([
      '1.root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
    expect(await store.getState()).toMatchObject({ rootVersion: 1 });
  });

  it('refuses a root under its threshold, and stores nothing', async () => {
    const { publish, files } = repository();
    await expect(publish({ kind: 'root', root: await rootV1(2, rootKeys.slice(0, 1)) })).rejects.toThrow(
      /lacks a threshold of signatures from its own root keys/,
    );
    expect(files.files.size).toBe(0);
  });

  it('refuses a root naming online keys the stack does not hold', async () => {
    const { publish } = repository([LocalKeySigner.generate('ecdsa')]);
    await expect(publish({ kind: 'root', root: await rootV1() })).rejects.toThrow(
      /the stack's online keys are/,
    );
  });

  it('refuses a root that skips a version', async () => {
    const { publish } = repository();
    await publish({ kind: 'root', root: await rootV1() });
    const v3 = buildRoot({
      version: 3,
      expires: year,
      rootKeys: rootKeys.map((k) => k.publicKey),
      threshold: 2,
      online: { targets: [online.publicKey], snapshot: [online.publicKey], timestamp: [online.publicKey] },
    });
    await expect(
      publish({ kind: 'root', root: (await signMetadata(v3, rootKeys)).toJSON() }),
    ).rejects.toThrow(/root version must be 2, got 3/);
  });

  it('refuses anything before a root exists', async () => {
    const { publish } = repository();
    await expect(publish({ kind: 'refresh' })).rejects.toThrow(/no root uploaded yet/);
  });

  it('signs new targets one version up, keeps the old ones, and never lets a signed path change', async () => {
    const { publish, files } = repository();
    await publish({ kind: 'root', root: await rootV1() });
    await publish({ kind: 'targets', entries: [entry('rel-1/rpi4/image', 'a'.repeat(64))] });
    const second = await publish({ kind: 'targets', entries: [entry('rel-2/rpi4/image', 'b'.repeat(64))] });
    expect(second.versions.targets).toBe(3);
    const targets = Metadata.fromJSON(
      'targets' as never,
      JSON.parse(String(files.files.get('targets.json'))) as never,
    );
    expect(Object.keys((targets.signed as unknown as { targets: object }).targets).sort()).toEqual([
      'rel-1/rpi4/image',
      'rel-2/rpi4/image',
    ]);
    await expect(
      publish({ kind: 'targets', entries: [entry('rel-1/rpi4/image', 'c'.repeat(64))] }),
    ).rejects.toThrow(/already signed with other content/);
    // The same entry again is no change.
    await expect(
      publish({ kind: 'targets', entries: [entry('rel-1/rpi4/image', 'a'.repeat(64))] }),
    ).resolves.toBeDefined();
  });

  it('serializes concurrent publications, so versions never repeat', async () => {
    const { publish } = repository();
    await publish({ kind: 'root', root: await rootV1() });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        publish({ kind: 'targets', entries: [entry(`r/${i}`, String(i).repeat(64))] }),
      ),
    );
    expect(new Set(results.map((r) => r.versions.timestamp)).size).toBe(6);
  });
});

describe('compareVersions', () => {
  it.each([
    ['1.0.0', '1.0.1', -1],
    ['1.10.0', '1.9.0', 1],
    ['2.0', '2.0.0', 0],
    ['1.0.0-rc.1', '1.0.0', -1],
    ['1.0.0-rc.2', '1.0.0-rc.10', -1],
    ['1.0.0+build.7', '1.0.0', 0],
    ['2024.11.3', '2024.2.9', 1],
  ])('%s vs %s is %i', (a, b, order) => {
    expect(Math.sign(compareVersions(a, b))).toBe(order);
    expect(Math.sign(compareVersions(b, a))).toBe(-order || 0);
  });
});
