import type { ComponentFacts, SignedTargetFacts } from '../../../contract/ota';
import { RolloutNotFoundError } from '../../domain/errors';
import { isV2Compatible, targetPathsOf } from '../../domain/release';
import type { TargetEntry } from '../../domain/tuf-metadata';
import type { Clock } from '../../ports/clock';
import type { DeltaStore } from '../../ports/delta-store';
import type { ReleaseCatalog, ReleaseComponent } from '../../ports/release-catalog';
import type { RolloutStore } from '../../ports/rollout-store';
import type { Publication, TrustChange } from './publish-trust';

/**
 * Signs what a rollout ships, before its first wave: the release's image of every component per
 * hardware type, every ready delta to those images, and, for a rollback rollout, the explicit
 * downgrade devices need for each (valid for `rollbackValidHours`). A v2-compatible release
 * (domain/release.ts isV2Compatible) keeps the single-image paths and facts; every other release
 * gets per-component paths, and each of its targets carries the component's facts (name, handler,
 * order, version, settings), signed, because they decide what the device changes. Signing again
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
    const v2 = isV2Compatible(release);
    const factsOf = (hardwareType: string, component: ReleaseComponent) =>
      ({
        releaseId,
        version,
        hardwareType,
        ...(v2 ? {} : { component: componentFacts(component) }),
      }) as const;
    const entries: TargetEntry[] = [];
    const notAfter = new Date(ports.clock.now().getTime() + ports.rollbackValidHours * 3_600_000);
    for (const [hardwareType, components] of Object.entries(release.components)) {
      for (const component of components) {
        const paths = targetPathsOf(release, component.name);
        const facts: SignedTargetFacts = { ...factsOf(hardwareType, component), kind: 'image' };
        entries.push({
          path: paths.image(releaseId, hardwareType),
          length: component.size,
          sha256: component.sha256,
          facts,
        });
        if (rollout.operation === 'rollback') {
          entries.push({
            path: paths.rollback(rolloutId, hardwareType),
            length: component.size,
            sha256: component.sha256,
            facts: { ...facts, rollback: { rolloutId, notAfter: notAfter.toISOString() } },
          });
        }
      }
    }
    for (const delta of await ports.deltas.listDeltas(releaseId)) {
      if (delta.status !== 'ready' || delta.size === undefined || delta.sha256 === undefined) continue;
      const component = release.components[delta.hardwareType]?.find((c) => c.name === delta.component);
      // A delta to an image the release does not hold would rebuild nothing a device installs.
      if (component?.sha256 !== delta.imageSha256) continue;
      entries.push({
        path: targetPathsOf(release, delta.component).delta(releaseId, delta.hardwareType, delta.baseSha256),
        length: delta.size,
        sha256: delta.sha256,
        facts: {
          ...factsOf(delta.hardwareType, component),
          kind: 'delta',
          base: { sha256: delta.baseSha256, length: delta.baseSize },
          image: { sha256: delta.imageSha256, length: delta.imageSize },
        },
      });
    }
    return ports.publish({ kind: 'targets', entries });
  };

/** What is signed about a component of a multi-component release, in each of its targets. */
export const componentFacts = (component: ReleaseComponent): ComponentFacts => ({
  name: component.name,
  handler: component.handler,
  order: component.order,
  version: component.version,
  settings: { ...component.settings },
});
