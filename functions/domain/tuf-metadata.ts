/**
 * The release trust chain in the TUF layout (https://theupdateframework.github.io/specification/):
 *
 * - **root** lists the keys of every role with a threshold. Its keys are offline: operators make
 *   and keep them (scripts/trust), sign each root version, and upload it. A new root must be
 *   signed by a threshold of the previous root's keys and of its own.
 * - **targets** lists every image and delta devices may install, with length, SHA-256 and the
 *   facts in `custom.edgeops` (contract/ota.ts SignedTargetFacts).
 * - **snapshot** pins the targets version; **timestamp** pins the snapshot version and expires
 *   soon, so a frozen or replayed repository is noticed.
 *
 * Targets, snapshot and timestamp are signed online by KMS keys of the stack (signers here are
 * abstract, so tests sign with local keys). Devices verify the chain with tuf-js.
 *
 * Consistent snapshots are off: a job document carries one URL per metadata file name, and the
 * unversioned names always hold the newest files.
 */
import { createHash } from 'node:crypto';
import { canonicalize } from '@tufjs/canonical-json';
import { Metadata, MetaFile, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';
import { TUF_METADATA_FILE } from '../../contract/ota-names';
import { type TargetEntry, TrustError } from './trust-targets';

export { sameTarget, TargetConflictError, type TargetEntry, TrustError } from './trust-targets';
export { Metadata, Root, Timestamp };

export const TUF_SPEC_VERSION = '1.0.31';
export const ONLINE_ROLES = ['targets', 'snapshot', 'timestamp'] as const;
export type OnlineRole = (typeof ONLINE_ROLES)[number];

/** A public key as TUF metadata lists it. */
export interface TufPublicKey {
  readonly keytype: 'ecdsa' | 'ed25519';
  readonly scheme: 'ecdsa-sha2-nistp256' | 'ed25519';
  readonly keyval: { readonly public: string };
}

/** Something that signs canonical metadata bytes with one key: a KMS key, or a local one. */
export interface MetadataSigner {
  readonly keyId: string;
  readonly publicKey: TufPublicKey;
  /** The signature TUF expects for `bytes`, hex-encoded (DER for ECDSA). */
  sign(bytes: Uint8Array): Promise<string>;
}

/** The key id TUF uses: SHA-256 of the key's canonical JSON. */
export const keyIdOf = (key: TufPublicKey) =>
  createHash('sha256')
    .update(canonicalize({ keytype: key.keytype, scheme: key.scheme, keyval: { public: key.keyval.public } }))
    .digest('hex');

type Signed = Root | Targets | Snapshot | Timestamp;

/** Signs `signed` with each signer (one signature per key). */
export async function signMetadata<T extends Signed>(
  signed: T,
  signers: readonly MetadataSigner[],
): Promise<Metadata<T>> {
  const metadata = new Metadata(signed);
  const bytes = Buffer.from(canonicalize(signed.toJSON()));
  for (const signer of signers) {
    metadata.signatures[signer.keyId] = new Signature({ keyID: signer.keyId, sig: await signer.sign(bytes) });
  }
  return metadata;
}

export const serialize = (metadata: Metadata<Signed>) => Buffer.from(JSON.stringify(metadata.toJSON()));

/** How long each online role's metadata is valid after it is signed. */
export interface MetadataLifetimes {
  readonly targetsSeconds: number;
  readonly snapshotSeconds: number;
  readonly timestampSeconds: number;
}

export const DEFAULT_LIFETIMES: MetadataLifetimes = {
  targetsSeconds: 30 * 86_400,
  snapshotSeconds: 7 * 86_400,
  timestampSeconds: 86_400,
};

/** TUF wants expiry without milliseconds. */
export const tufTime = (date: Date) => `${date.toISOString().slice(0, 19)}Z`;
const after = (now: Date, seconds: number) => tufTime(new Date(now.getTime() + seconds * 1000));

export interface RepositoryVersions {
  readonly targets: number;
  readonly snapshot: number;
  readonly timestamp: number;
}

export interface PublishedMetadata {
  readonly versions: RepositoryVersions;
  readonly files: {
    readonly 'targets.json': Buffer;
    readonly 'snapshot.json': Buffer;
    readonly 'timestamp.json': Buffer;
  };
  readonly timestampExpires: string;
}

/**
 * Signs a new targets, snapshot and timestamp (each one version up) over `entries`, with the
 * online keys the root names for each role. Refuses when the signers cover less than a role's
 * threshold: the stack then lacks the key the root expects.
 */
export async function publishMetadata(input: {
  readonly root: Metadata<Root>;
  readonly entries: readonly TargetEntry[];
  readonly previous: RepositoryVersions | undefined;
  readonly signers: readonly MetadataSigner[];
  readonly now: Date;
  readonly lifetimes: MetadataLifetimes;
}): Promise<PublishedMetadata> {
  const { root, entries, previous, now, lifetimes } = input;
  const versions = {
    targets: (previous?.targets ?? 0) + 1,
    snapshot: (previous?.snapshot ?? 0) + 1,
    timestamp: (previous?.timestamp ?? 0) + 1,
  };
  const targetFiles: Record<string, TargetFile> = {};
  for (const entry of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    targetFiles[entry.path] = new TargetFile({
      path: entry.path,
      length: entry.length,
      hashes: { sha256: entry.sha256 },
      unrecognizedFields: { custom: { edgeops: { ...entry.facts } } },
    });
  }
  const targets = await signMetadata(
    new Targets({
      version: versions.targets,
      specVersion: TUF_SPEC_VERSION,
      expires: after(now, lifetimes.targetsSeconds),
      targets: targetFiles,
    }),
    signersFor(root, 'targets', input.signers),
  );
  const targetsBytes = serialize(targets);
  const snapshot = await signMetadata(
    new Snapshot({
      version: versions.snapshot,
      specVersion: TUF_SPEC_VERSION,
      expires: after(now, lifetimes.snapshotSeconds),
      meta: { 'targets.json': new MetaFile({ version: versions.targets }) },
    }),
    signersFor(root, 'snapshot', input.signers),
  );
  const snapshotBytes = serialize(snapshot);
  const timestampExpires = after(now, lifetimes.timestampSeconds);
  const timestamp = await signMetadata(
    new Timestamp({
      version: versions.timestamp,
      specVersion: TUF_SPEC_VERSION,
      expires: timestampExpires,
      snapshotMeta: new MetaFile({
        version: versions.snapshot,
        length: snapshotBytes.length,
        hashes: { sha256: createHash('sha256').update(snapshotBytes).digest('hex') },
      }),
    }),
    signersFor(root, 'timestamp', input.signers),
  );
  return {
    versions,
    files: {
      'targets.json': targetsBytes,
      'snapshot.json': snapshotBytes,
      'timestamp.json': serialize(timestamp),
    },
    timestampExpires,
  };
}

/** The signers whose keys the root lists for `role`: at least its threshold, or an error. */
export function signersFor(root: Metadata<Root>, role: OnlineRole, signers: readonly MetadataSigner[]) {
  const spec = root.signed.roles[role];
  if (!spec) throw new TrustError(`root v${root.signed.version} defines no ${role} role`);
  const usable = signers.filter((s) => spec.keyIDs.includes(s.keyId));
  if (usable.length < spec.threshold)
    throw new TrustError(
      `root v${root.signed.version} wants ${spec.threshold} ${role} key(s) of [${spec.keyIDs.join(', ')}]; ` +
        `the stack holds [${signers.map((s) => s.keyId).join(', ')}]`,
    );
  return usable.slice(0, spec.threshold);
}

/** Parses root metadata JSON (as uploaded) into tuf-js's model, or throws TrustError. */
export function parseRoot(json: unknown): Metadata<Root> {
  try {
    const metadata = Metadata.fromJSON('root' as never, json as never) as Metadata<Root>;
    if (metadata.signed.type !== 'root') throw new Error('not root metadata');
    return metadata;
  } catch (error) {
    throw new TrustError(`not valid TUF root metadata: ${(error as Error).message}`);
  }
}

/**
 * Checks a root the operator uploads, as a device will: the first root (version 1) must be
 * signed by a threshold of its own root keys; each later one must be the next version, signed by
 * a threshold of the current root's keys and of its own. It must not be expired, and the stack
 * must hold the keys it names for the online roles (`onlineKeyIds`).
 */
export function checkRootUpdate(
  current: Metadata<Root> | undefined,
  next: Metadata<Root>,
  onlineKeyIds: readonly string[],
  now: Date,
): void {
  const expected = (current?.signed.version ?? 0) + 1;
  if (next.signed.version !== expected)
    throw new TrustError(`root version must be ${expected}, got ${next.signed.version}`);
  if (next.signed.isExpired(now))
    throw new TrustError(`root v${next.signed.version} expired ${next.signed.expires}`);
  if (next.signed.consistentSnapshot)
    throw new TrustError('consistent_snapshot must be false: job documents carry unversioned metadata names');
  try {
    current?.verifyDelegate('root', next);
  } catch (error) {
    throw new TrustError(
      `root v${next.signed.version} lacks a threshold of signatures from root v${current?.signed.version} keys: ${(error as Error).message}`,
    );
  }
  try {
    next.verifyDelegate('root', next);
  } catch (error) {
    throw new TrustError(
      `root v${next.signed.version} lacks a threshold of signatures from its own root keys: ${(error as Error).message}`,
    );
  }
  for (const role of ONLINE_ROLES) {
    const spec = next.signed.roles[role];
    if (!spec) throw new TrustError(`root v${next.signed.version} defines no ${role} role`);
    const held = spec.keyIDs.filter((id) => onlineKeyIds.includes(id));
    if (held.length < spec.threshold)
      throw new TrustError(
        `root v${next.signed.version} wants ${spec.threshold} ${role} key(s) of [${spec.keyIDs.join(', ')}], ` +
          `but the stack's online keys are [${onlineKeyIds.join(', ')}]`,
      );
  }
}

/** Builds an (unsigned) root: root keys with a threshold, and the online keys per role. */
export function buildRoot(input: {
  readonly version: number;
  readonly expires: Date;
  readonly rootKeys: readonly TufPublicKey[];
  readonly threshold: number;
  readonly online: Readonly<Record<OnlineRole, readonly TufPublicKey[]>>;
}): Root {
  if (input.threshold < 1 || input.threshold > input.rootKeys.length)
    throw new TrustError(`threshold ${input.threshold} needs 1..${input.rootKeys.length} root keys`);
  const keys: Record<string, TufPublicKey> = {};
  const idsOf = (list: readonly TufPublicKey[]) =>
    list.map((key) => {
      const keyid = keyIdOf(key);
      keys[keyid] = { keytype: key.keytype, scheme: key.scheme, keyval: { public: key.keyval.public } };
      return keyid;
    });
  const roles: Record<string, { keyids: string[]; threshold: number }> = {
    root: { keyids: idsOf(input.rootKeys), threshold: input.threshold },
  };
  for (const role of ONLINE_ROLES) {
    if (input.online[role].length === 0) throw new TrustError(`no ${role} key given`);
    roles[role] = { keyids: idsOf(input.online[role]), threshold: 1 };
  }
  return Root.fromJSON({
    _type: 'root',
    spec_version: TUF_SPEC_VERSION,
    version: input.version,
    expires: tufTime(input.expires),
    consistent_snapshot: false,
    keys: keys as never,
    roles,
  });
}

/** Metadata file names a job document may carry, checked the same way the contract does. */
export const isMetadataFileName = (name: string) => TUF_METADATA_FILE.test(name);
