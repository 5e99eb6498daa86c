/**
 * A signed release repository for simulations and unit tests: the control plane's own TUF
 * publishing (functions/use-cases/trust) with in-memory bookkeeping and local keys instead of KMS,
 * serving images, deltas and metadata from a local artifact server. Devices verify it exactly as
 * they verify the real one.
 *
 * Single-image releases (`addImage`, `addDelta`, `addRollback`, `jobDocument`: v2) and
 * multi-component ones (`addComponent`, `addComponentDelta`, `jobDocumentV3`): each component its
 * own target with signed component facts, as the backend signs them.
 */
import { createHash } from 'node:crypto';
import {
  type ComponentFacts,
  componentTargetPaths,
  deltaTargetPath,
  imageTargetPath,
  type JobDocumentV2Input,
  type JobDocumentV3Input,
  rollbackTargetPath,
  type SignedTargetFacts,
} from '../contract/ota';
import { InMemoryTrustStore } from '../functions/adapters/in-memory-trust-repository';
import { LocalKeySigner } from '../functions/adapters/local-key-signer';
import {
  buildRoot,
  DEFAULT_LIFETIMES,
  type MetadataLifetimes,
  type MetadataSigner,
  type Root,
  signMetadata,
  type TargetEntry,
} from '../functions/domain/tuf-metadata';
import type { TrustFiles } from '../functions/ports/trust-repository';
import { makePublishTrust, rootFileName } from '../functions/use-cases/trust/publish-trust';
import type { LocalArtifactServer } from './local-artifact-server';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const YEAR_MS = 365 * 86_400_000;

export interface PublishedImage {
  readonly target: string;
  readonly url: string;
  readonly sha256: string;
  readonly length: number;
}

export class LocalReleaseRepository {
  readonly #files: ServerTrustFiles;
  readonly #publish: ReturnType<typeof makePublishTrust>;
  #rootVersion = 1;

  private constructor(
    private readonly server: LocalArtifactServer,
    readonly rootKeys: LocalKeySigner[],
    /** The online keys the "stack" holds; a rotation adds to them. */
    readonly onlineKeys: MetadataSigner[],
    readonly root: unknown,
    lifetimes: MetadataLifetimes,
    now: () => Date,
  ) {
    this.#files = new ServerTrustFiles(server);
    this.#publish = makePublishTrust({
      store: new InMemoryTrustStore(),
      files: this.#files,
      signers: async () => this.onlineKeys,
      clock: { now },
      lifetimes,
    });
  }

  /** A repository with one root key (threshold 1) and one online key for all three roles. */
  static async create(
    server: LocalArtifactServer,
    options: { lifetimes?: MetadataLifetimes; now?: () => Date } = {},
  ): Promise<LocalReleaseRepository> {
    const rootKey = LocalKeySigner.generate();
    const online = LocalKeySigner.generate('ecdsa');
    const root = await signMetadata(
      buildRoot({
        version: 1,
        expires: new Date(Date.now() + YEAR_MS),
        rootKeys: [rootKey.publicKey],
        threshold: 1,
        online: { targets: [online.publicKey], snapshot: [online.publicKey], timestamp: [online.publicKey] },
      }),
      [rootKey],
    );
    const repository = new LocalReleaseRepository(
      server,
      [rootKey],
      [online],
      root.toJSON(),
      options.lifetimes ?? DEFAULT_LIFETIMES,
      options.now ?? (() => new Date()),
    );
    await repository.#publish({ kind: 'root', root: root.toJSON() });
    return repository;
  }

  /** Serves an image and signs it as `<releaseId>/<hardwareType>/image`. */
  async addImage(release: { releaseId: string; version: string }, hardwareType: string, bytes: Uint8Array) {
    const path = imageTargetPath(release.releaseId, hardwareType);
    return this.#add(path, bytes, { ...release, hardwareType, kind: 'image' });
  }

  /** Serves a delta from `base` and signs it as rebuilding `image`. */
  async addDelta(
    release: { releaseId: string; version: string },
    hardwareType: string,
    patch: Uint8Array,
    base: Uint8Array,
    image: Uint8Array,
  ) {
    const path = deltaTargetPath(release.releaseId, hardwareType, sha256(base));
    return this.#add(path, patch, {
      ...release,
      hardwareType,
      kind: 'delta',
      base: { sha256: sha256(base), length: base.length },
      image: { sha256: sha256(image), length: image.length },
    });
  }

  /** Signs an older image as an explicit rollback for one rollout, until `notAfter`. */
  async addRollback(
    release: { releaseId: string; version: string },
    hardwareType: string,
    rolloutId: string,
    bytes: Uint8Array,
    notAfter: Date,
  ) {
    const path = rollbackTargetPath(rolloutId, hardwareType);
    return this.#add(path, bytes, {
      ...release,
      hardwareType,
      kind: 'image',
      rollback: { rolloutId, notAfter: notAfter.toISOString() },
    });
  }

  /**
   * Serves one component's image and signs it as `<releaseId>/<hardwareType>/<component>/image`
   * with its component facts (name, handler, order, version, settings).
   */
  async addComponent(
    release: { releaseId: string; version: string },
    hardwareType: string,
    component: Omit<ComponentFacts, 'settings'> & { settings?: ComponentFacts['settings'] },
    bytes: Uint8Array,
  ) {
    const path = componentTargetPaths(component.name).image(release.releaseId, hardwareType);
    return this.#add(path, bytes, {
      ...release,
      hardwareType,
      kind: 'image',
      component: { settings: {}, ...component },
    });
  }

  /** Serves a component's delta from `base` and signs it as rebuilding `image`. */
  async addComponentDelta(
    release: { releaseId: string; version: string },
    hardwareType: string,
    component: Omit<ComponentFacts, 'settings'> & { settings?: ComponentFacts['settings'] },
    patch: Uint8Array,
    base: Uint8Array,
    image: Uint8Array,
  ) {
    const path = componentTargetPaths(component.name).delta(release.releaseId, hardwareType, sha256(base));
    return this.#add(path, patch, {
      ...release,
      hardwareType,
      kind: 'delta',
      base: { sha256: sha256(base), length: base.length },
      image: { sha256: sha256(image), length: image.length },
      component: { settings: {}, ...component },
    });
  }

  /** Serves `bytes` and signs them at `path` with `facts` as given: for tests of what devices refuse. */
  async signTarget(path: string, bytes: Uint8Array, facts: SignedTargetFacts) {
    return this.#add(path, bytes, facts);
  }

  /** Re-signs the online metadata (as the scheduled refresh does). */
  async refresh() {
    return this.#publish({ kind: 'refresh' });
  }

  /** Uploads a new root (already signed) and republishes with the keys it names. */
  async rotateRoot(root: Root, signers: readonly MetadataSigner[]) {
    const metadata = await signMetadata(root, signers);
    await this.#publish({ kind: 'root', root: metadata.toJSON() });
    this.#rootVersion = root.version;
  }

  get rootVersion() {
    return this.#rootVersion;
  }

  /** File name → URL of every metadata file a job document carries. */
  metadataUrls(): Record<string, string> {
    const urls: Record<string, string> = {};
    for (let v = 2; v <= this.#rootVersion; v++)
      urls[rootFileName(v)] = this.server.url(`tuf/${rootFileName(v)}`);
    for (const name of ['timestamp.json', 'snapshot.json', 'targets.json'])
      urls[name] = this.server.url(`tuf/${name}`);
    return urls;
  }

  /** A job document for `artifacts`, with this repository's metadata URLs. */
  jobDocument(
    fields: Omit<JobDocumentV2Input, 'schema' | 'trust' | 'waveIndex' | 'healthCheckSeconds'> &
      Partial<Pick<JobDocumentV2Input, 'waveIndex' | 'healthCheckSeconds'>>,
  ): JobDocumentV2Input {
    return {
      schema: 'edgeops.ota.v2',
      waveIndex: 0,
      healthCheckSeconds: 1,
      ...fields,
      trust: { metadata: this.metadataUrls() },
    };
  }

  /** A multi-component (v3) job document for `artifacts`, with this repository's metadata URLs. */
  jobDocumentV3(
    fields: Omit<JobDocumentV3Input, 'schema' | 'trust' | 'waveIndex' | 'healthCheckSeconds'> &
      Partial<Pick<JobDocumentV3Input, 'waveIndex' | 'healthCheckSeconds'>>,
  ): JobDocumentV3Input {
    return {
      schema: 'edgeops.ota.v3',
      waveIndex: 0,
      healthCheckSeconds: 1,
      ...fields,
      trust: { metadata: this.metadataUrls() },
    };
  }

  /** The served bytes of a metadata file, to tamper with in tests. */
  metadataFile(name: string): Buffer {
    const file = this.#files.files.get(name);
    if (!file) throw new Error(`${name} was never published`);
    return file;
  }

  putMetadataFile(name: string, body: Uint8Array) {
    this.server.put(`tuf/${name}`, body);
  }

  async #add(path: string, bytes: Uint8Array, facts: SignedTargetFacts): Promise<PublishedImage> {
    const name = `targets/${path}`;
    this.server.put(name, bytes);
    const entry: TargetEntry = { path, length: bytes.length, sha256: sha256(bytes), facts };
    await this.#publish({ kind: 'targets', entries: [entry] });
    return { target: path, url: this.server.url(name), sha256: entry.sha256, length: entry.length };
  }
}

class ServerTrustFiles implements TrustFiles {
  readonly files = new Map<string, Buffer>();
  constructor(private readonly server: LocalArtifactServer) {}

  async put(name: string, body: Buffer) {
    this.files.set(name, body);
    this.server.put(`tuf/${name}`, body);
  }

  async get(name: string) {
    return this.files.get(name);
  }

  location(name: string) {
    return this.server.url(`tuf/${name}`);
  }
}
