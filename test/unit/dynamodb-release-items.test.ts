import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbDeltaStore } from '../../functions/adapters/dynamodb-delta-store';
import { DynamoDbReleaseCatalog } from '../../functions/adapters/dynamodb-release-catalog';
import { releaseItem } from '../../functions/adapters/dynamodb-release-item';
import { DynamoDbReleaseStore } from '../../functions/adapters/dynamodb-release-store';
import type { Delta } from '../../functions/domain/delta';
import type { Release, ReleasedArtifact } from '../../functions/domain/release';

type Item = Record<string, unknown>;

/**
 * A fleet table in memory, as far as these adapters use it: Put, TransactWrite of Puts, Get, and
 * Query of one partition (by sort key prefix, or all of it), newest first when asked.
 */
function fakeTable() {
  const items = new Map<string, Item>();
  const id = (key: Item) => `${String(key.pk)}|${String(key.sk)}`;
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const { input } = command;
      switch (command.constructor.name) {
        case 'PutCommand':
          items.set(id(input.Item as Item), structuredClone(input.Item as Item));
          return {};
        case 'TransactWriteCommand':
          for (const { Put } of input.TransactItems as { Put: { Item: Item } }[])
            items.set(id(Put.Item), structuredClone(Put.Item));
          return {};
        case 'GetCommand': {
          const item = items.get(id(input.Key as Item));
          return { Item: item && structuredClone(item) };
        }
        case 'QueryCommand': {
          const values = input.ExpressionAttributeValues as Record<string, string>;
          const pk = values[':pk'] ?? values[':listing'];
          const prefix = values[':prefix'] ?? '';
          const found = [...items.values()]
            .filter((i) => i.pk === pk && String(i.sk).startsWith(prefix))
            .sort((a, b) => String(a.sk).localeCompare(String(b.sk)));
          return { Items: input.ScanIndexForward === false ? found.reverse() : found };
        }
        default:
          throw new Error(`fake table: ${command.constructor.name} not supported`);
      }
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, items };
}

const sha = (c: string) => c.repeat(64);
const artifact = (id: string, patch: Partial<ReleasedArtifact> = {}): ReleasedArtifact => ({
  artifactId: `art-00000000-0000-4000-8000-${id.padStart(12, '0')}`,
  kind: 'firmware',
  version: '1.0.0',
  s3Key: `artifacts/art-${id}`,
  s3VersionId: `v-${id}`,
  sha256: sha('a'),
  size: 100,
  ...patch,
});

/** A release stored before multi-component releases: `artifacts`, hardware type → artifact. */
const legacyItem = (releaseId: string, version: string, pk = `RELEASE#${releaseId}`, sk = 'RELEASE') => ({
  pk,
  sk,
  entity: 'release',
  releaseId,
  version,
  createdAt: '2026-01-01T00:00:00.000Z',
  artifacts: { rpi4: artifact('1'), jetson: artifact('2', { sha256: sha('b') }) },
});

const multiComponent: Release = {
  releaseId: 'rel-2.0.0',
  version: '2.0.0',
  notes: 'components',
  createdAt: '2026-02-01T00:00:00.000Z',
  components: {
    rpi4: [
      { name: 'rootfs', handler: 'rootfs', order: 0, settings: {}, artifact: artifact('3') },
      {
        name: 'app',
        handler: 'docker-compose',
        order: 1,
        settings: { project: 'edge' },
        artifact: artifact('4', { kind: 'app', version: '7.1' }),
      },
    ],
    jetson: [
      {
        name: 'app',
        handler: 'docker-compose',
        order: 1,
        settings: { project: 'edge' },
        artifact: artifact('5', { kind: 'app', version: '7.1' }),
      },
    ],
  },
  downloadLimits: { jetson: { minBytesPerSecond: 1024 } },
};

describe('DynamoDbReleaseStore: release items', () => {
  it('stores each component once, with its settings, and its artifact per hardware type', async () => {
    const { client, items } = fakeTable();

    await new DynamoDbReleaseStore(client, 'fleet').createRelease(multiComponent);

    const stored = items.get('RELEASE#rel-2.0.0|RELEASE');
    expect(stored).not.toHaveProperty('artifacts');
    expect(stored?.components).toEqual([
      { name: 'rootfs', order: 0, handler: 'rootfs', settings: {}, artifacts: { rpi4: artifact('3') } },
      {
        name: 'app',
        order: 1,
        handler: 'docker-compose',
        settings: { project: 'edge' },
        artifacts: {
          rpi4: artifact('4', { kind: 'app', version: '7.1' }),
          jetson: artifact('5', { kind: 'app', version: '7.1' }),
        },
      },
    ]);
    expect(items.get('RELEASES|2026-02-01T00:00:00.000Z#rel-2.0.0')).toMatchObject({
      entity: 'release-listing',
      components: stored?.components,
    });
  });

  it('reads back the release it wrote, from the item and from the listing', async () => {
    const { client } = fakeTable();
    const store = new DynamoDbReleaseStore(client, 'fleet');
    await store.createRelease(multiComponent);

    expect(await store.getRelease('rel-2.0.0')).toEqual(multiComponent);
    expect((await store.listReleases({ limit: 10 })).items).toEqual([multiComponent]);
  });

  it('reads a release stored before components as one firmware component on rootfs', async () => {
    const { client, items } = fakeTable();
    items.set('RELEASE#rel-1.0.0|RELEASE', legacyItem('rel-1.0.0', '1.0.0'));
    items.set(
      'RELEASES|2026-01-01T00:00:00.000Z#rel-1.0.0',
      legacyItem('rel-1.0.0', '1.0.0', 'RELEASES', '2026-01-01T00:00:00.000Z#rel-1.0.0'),
    );
    const store = new DynamoDbReleaseStore(client, 'fleet');

    const expected: Release = {
      releaseId: 'rel-1.0.0',
      version: '1.0.0',
      createdAt: '2026-01-01T00:00:00.000Z',
      components: {
        rpi4: [{ name: 'firmware', handler: 'rootfs', order: 0, settings: {}, artifact: artifact('1') }],
        jetson: [
          {
            name: 'firmware',
            handler: 'rootfs',
            order: 0,
            settings: {},
            artifact: artifact('2', { sha256: sha('b') }),
          },
        ],
      },
    };
    expect(await store.getRelease('rel-1.0.0')).toEqual(expected);
    expect((await store.listReleases({ limit: 10 })).items).toEqual([expected]);
  });
});

describe('DynamoDbReleaseCatalog', () => {
  it('gives rollouts a release stored before components as its one firmware component', async () => {
    const { client, items } = fakeTable();
    items.set('RELEASE#rel-1.0.0|RELEASE', legacyItem('rel-1.0.0', '1.0.0'));

    const release = await new DynamoDbReleaseCatalog(client, 'fleet', 'bucket').findByVersion('1.0.0');

    expect(release).toEqual({
      releaseId: 'rel-1.0.0',
      version: '1.0.0',
      components: {
        rpi4: [
          {
            name: 'firmware',
            handler: 'rootfs',
            order: 0,
            settings: {},
            version: '1.0.0',
            bucket: 'bucket',
            key: 'artifacts/art-1',
            versionId: 'v-1',
            size: 100,
            sha256: sha('a'),
          },
        ],
        jetson: [expect.objectContaining({ name: 'firmware', key: 'artifacts/art-2', sha256: sha('b') })],
      },
    });
  });

  it('gives rollouts each component with its handler, order, settings and own version', async () => {
    const { client } = fakeTable();
    await new DynamoDbReleaseStore(client, 'fleet').createRelease(multiComponent);

    const release = await new DynamoDbReleaseCatalog(client, 'fleet', 'bucket').getRelease('rel-2.0.0');

    expect(release?.components.rpi4?.map((c) => [c.name, c.handler, c.order, c.version, c.key])).toEqual([
      ['rootfs', 'rootfs', 0, '1.0.0', 'artifacts/art-3'],
      ['app', 'docker-compose', 1, '7.1', 'artifacts/art-4'],
    ]);
    expect(release?.components.jetson?.[0]).toMatchObject({
      name: 'app',
      order: 1,
      settings: { project: 'edge' },
    });
    expect(release?.downloadLimits).toEqual({ jetson: { minBytesPerSecond: 1024 } });
  });
});

/**
 * The size DynamoDB counts for an item (docs: "Item sizes and formats"): attribute names and
 * values in UTF-8; numbers up to 21 bytes; maps and lists 3 bytes plus 1 per element.
 */
function dynamoDbSize(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return 21;
  if (typeof value === 'boolean' || value === null) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + dynamoDbSize(v), 0);
  return (
    3 +
    Object.entries(value as object).reduce((n, [k, v]) => n + 1 + Buffer.byteLength(k) + dynamoDbSize(v), 0)
  );
}

describe('the largest release item', () => {
  it('stays far below DynamoDB’s 400 KB item limit: 8 components × 16 hardware types, every setting full', () => {
    const hardwareTypes = Array.from({ length: 16 }, (_, h) => `hw-${h}-`.padEnd(64, 'x'));
    const settings = Object.fromEntries(
      Array.from({ length: 16 }, (_, s) => [`s${s}-`.padEnd(64, 'k'), 'v'.repeat(512)]),
    );
    const release: Release = {
      releaseId: `rel-${'1'.repeat(60)}`,
      version: '1'.repeat(60),
      notes: 'n'.repeat(2000),
      createdAt: '2026-02-01T00:00:00.000Z',
      components: Object.fromEntries(
        hardwareTypes.map((hw, h) => [
          hw,
          Array.from({ length: 8 }, (_, c) => ({
            name: `c${c}-`.padEnd(32, 'n'),
            handler: `h${c}-`.padEnd(32, 'h'),
            order: c,
            settings,
            artifact: artifact(`${h}${c}`, {
              version: 'v'.repeat(64),
              name: 'f'.repeat(128),
              s3VersionId: 'x'.repeat(64),
              size: 20 * 1024 ** 3,
            }),
          })),
        ]),
      ),
      downloadLimits: Object.fromEntries(
        hardwareTypes.map((hw) => [hw, { minBytesPerSecond: 1_000_000_000, maxSeconds: 2_592_000 }]),
      ),
    };
    const item = {
      pk: `RELEASES`,
      sk: `${release.createdAt}#${release.releaseId}`,
      entity: 'release-listing',
      ...releaseItem(release),
    };

    const size = dynamoDbSize(item) - 3;

    expect(size).toBeLessThan(200 * 1024);
    // Settings per hardware type instead of per component would not fit at all.
    expect(dynamoDbSize(release.components)).toBeGreaterThan(400 * 1024);
  });
});

describe('DynamoDbDeltaStore', () => {
  const delta: Delta = {
    releaseId: 'rel-2.0.0',
    hardwareType: 'rpi4',
    component: 'app',
    baseSha256: sha('c'),
    baseSize: 10,
    baseVersion: '1.0.0',
    imageSha256: sha('d'),
    imageSize: 10,
    status: 'ready',
    s3Key: `deltas/rel-2.0.0/rpi4/app/${sha('c')}.zst`,
    size: 5,
    sha256: sha('e'),
    createdAt: '2026-01-01T00:00:00.000Z',
  };

  it('keys a delta by hardware type, component and base', async () => {
    const { client, items } = fakeTable();
    const store = new DynamoDbDeltaStore(client, 'fleet');

    expect(await store.putDelta(delta)).toBe(true);

    expect([...items.keys()]).toEqual([`RELEASE#rel-2.0.0|DELTA#rpi4#app#${sha('c')}`]);
    expect(await store.getDelta('rel-2.0.0', 'rpi4', 'app', sha('c'))).toEqual(delta);
    expect(await store.getDelta('rel-2.0.0', 'rpi4', 'rootfs', sha('c'))).toBeUndefined();
  });

  it('reads a delta recorded before components as one of the firmware component', async () => {
    const { client, items } = fakeTable();
    const { component: _, ...legacy } = { ...delta, s3Key: `deltas/rel-2.0.0/rpi4/${sha('c')}.zst` };
    items.set(`RELEASE#rel-2.0.0|DELTA#rpi4#${sha('c')}`, {
      pk: 'RELEASE#rel-2.0.0',
      sk: `DELTA#rpi4#${sha('c')}`,
      entity: 'delta',
      ...legacy,
    });
    const store = new DynamoDbDeltaStore(client, 'fleet');

    expect(await store.listDeltas('rel-2.0.0')).toEqual([{ ...legacy, component: 'firmware' }]);
    expect(await store.getDelta('rel-2.0.0', 'rpi4', 'firmware', sha('c'))).toEqual({
      ...legacy,
      component: 'firmware',
    });
    expect(await store.getDelta('rel-2.0.0', 'rpi4', 'app', sha('c'))).toBeUndefined();
  });
});
