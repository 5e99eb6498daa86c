/**
 * The one writer of the TUF repository. Every change (a new root, new targets, or a refresh
 * before the timestamp expires) re-signs targets, snapshot and timestamp one version up, under a
 * lock, so two publications never interleave and versions only ever grow.
 *
 * Files are written targets → snapshot → timestamp: a device reading while we write sees either
 * the old timestamp (pointing at a snapshot it can still fetch or a newer one, which TUF refuses
 * and the device retries) or the new one with everything it names already in place.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  checkRootUpdate,
  type Metadata,
  type MetadataLifetimes,
  type MetadataSigner,
  parseRoot,
  publishMetadata,
  type Root,
  type TargetEntry,
  TrustError,
} from '../../domain/tuf-metadata';
import type { Clock } from '../../ports/clock';
import type { TrustFiles, TrustState, TrustStore } from '../../ports/trust-repository';
import { rootFileName } from './get-trust-root';

export { makeGetTrustRoot, rootFileName } from './get-trust-root';

export interface TrustPorts {
  readonly store: TrustStore;
  readonly files: TrustFiles;
  /** The online keys the stack holds (KMS in AWS); loaded on demand. */
  readonly signers: () => Promise<readonly MetadataSigner[]>;
  readonly clock: Clock;
  readonly lifetimes: MetadataLifetimes;
}

export type TrustChange =
  | { readonly kind: 'refresh' }
  | { readonly kind: 'targets'; readonly entries: readonly TargetEntry[] }
  | { readonly kind: 'root'; readonly root: unknown };

export interface Publication {
  readonly rootVersion: number;
  readonly versions: NonNullable<TrustState['versions']>;
  readonly timestampExpires: string;
}

const LOCK_SECONDS = 60;

export const makePublishTrust = (ports: TrustPorts) => {
  const { store, files, clock } = ports;

  async function currentRoot(state: TrustState | undefined): Promise<Metadata<Root> | undefined> {
    if (!state) return undefined;
    const bytes = await files.get(rootFileName(state.rootVersion));
    if (!bytes) throw new TrustError(`root v${state.rootVersion} is recorded but its file is missing`);
    return parseRoot(JSON.parse(bytes.toString('utf8')));
  }

  return async (change: TrustChange): Promise<Publication> => {
    const owner = randomUUID();
    for (let attempt = 0; !(await store.lock(owner, LOCK_SECONDS, clock.now())); attempt++) {
      if (attempt >= 40) throw new Error('trust repository is locked by another publication; try again');
      await sleep(250 + Math.random() * 250);
    }
    try {
      const state = await store.getState();
      let root = await currentRoot(state);
      const signers = await ports.signers();
      if (change.kind === 'root') {
        const next = parseRoot(change.root);
        checkRootUpdate(
          root,
          next,
          signers.map((s) => s.keyId),
          clock.now(),
        );
        await files.put(rootFileName(next.signed.version), Buffer.from(JSON.stringify(next.toJSON())));
        root = next;
      }
      if (!root) throw new TrustError('no root uploaded yet: run the root ceremony first (scripts/trust)');
      if (change.kind === 'targets') await store.addTargets(change.entries);
      const published = await publishMetadata({
        root,
        entries: await store.listTargets(),
        previous: state?.versions,
        signers,
        now: clock.now(),
        lifetimes: ports.lifetimes,
      });
      for (const name of ['targets.json', 'snapshot.json', 'timestamp.json'] as const)
        await files.put(name, published.files[name]);
      const next: TrustState = {
        rootVersion: root.signed.version,
        versions: published.versions,
        timestampExpires: published.timestampExpires,
        publishedAt: clock.now().toISOString(),
      };
      await store.putState(next);
      return {
        rootVersion: next.rootVersion,
        versions: published.versions,
        timestampExpires: published.timestampExpires,
      };
    } finally {
      await store.unlock(owner);
    }
  };
};
