import { deltaTargetPath, imageTargetPath, rollbackTargetPath } from '../../../contract/ota';
import { RolloutNotFoundError } from '../../domain/errors';
import type { TargetEntry } from '../../domain/tuf-metadata';
import type { Clock } from '../../ports/clock';
import type { DeltaStore } from '../../ports/delta-store';
import type { ReleaseCatalog } from '../../ports/release-catalog';
import type { RolloutStore } from '../../ports/rollout-store';
import type { Publication, TrustChange } from './publish-trust';

/**
 * Signs what a rollout ships, before its first wave: the release's image per hardware type, every
 * ready delta to those images, and, for a rollback rollout, the explicit downgrade devices need
 * (`rollback/<rolloutId>/<hardwareType>/image`, valid for `rollbackValidHours`). Signing again
 * what is already signed changes nothing; a path signed with other bytes fails the rollout.
 */
export const makeSignRollout =
  (ports: {
    rollouts: RolloutStore;
    releases: ReleaseCatalog;
    deltas: DeltaStore;
    publish: (change: TrustChange) => Promise<Publication>;
    clock: Clock;
    rollbackValidHours: number;
  }) =>
  async (rolloutId: string): Promise<Publication> => {
    const rollout = await ports.rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    const release = await ports.releases.getRelease(rollout.releaseId);
    if (!release) throw new Error(`Release ${rollout.releaseId} of rollout ${rolloutId} is gone`);
    const { releaseId, version } = release;
    const entries: TargetEntry[] = [];
    for (const image of release.artifacts) {
      const facts = { releaseId, version, hardwareType: image.hardwareType, kind: 'image' as const };
      entries.push({
        path: imageTargetPath(releaseId, image.hardwareType),
        length: image.size,
        sha256: image.sha256,
        facts,
      });
      if (rollout.operation === 'rollback') {
        const notAfter = new Date(ports.clock.now().getTime() + ports.rollbackValidHours * 3_600_000);
        entries.push({
          path: rollbackTargetPath(rolloutId, image.hardwareType),
          length: image.size,
          sha256: image.sha256,
          facts: { ...facts, rollback: { rolloutId, notAfter: notAfter.toISOString() } },
        });
      }
    }
    for (const delta of await ports.deltas.listDeltas(releaseId)) {
      if (delta.status !== 'ready' || delta.size === undefined || delta.sha256 === undefined) continue;
      entries.push({
        path: deltaTargetPath(releaseId, delta.hardwareType, delta.baseSha256),
        length: delta.size,
        sha256: delta.sha256,
        facts: {
          releaseId,
          version,
          hardwareType: delta.hardwareType,
          kind: 'delta',
          base: { sha256: delta.baseSha256, length: delta.baseSize },
          image: { sha256: delta.imageSha256, length: delta.imageSize },
        },
      });
    }
    return ports.publish({ kind: 'targets', entries });
  };
