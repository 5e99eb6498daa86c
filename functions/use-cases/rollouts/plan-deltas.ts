import { deltaKey, planDeltas, type ReleaseImages } from '../../domain/delta';
import { RolloutNotFoundError } from '../../domain/errors';
import type { DeltaStore } from '../../ports/delta-store';
import type { ReleaseCatalog, ReleaseForRollout } from '../../ports/release-catalog';
import type { RolloutStore } from '../../ports/rollout-store';
import { type DeltaBuildRequest, storedImage } from '../build-delta';

export interface DeltaPlan {
  readonly builds: readonly DeltaBuildRequest[];
}

/**
 * The deltas a rollout should have before its first wave starts (domain/delta.ts planDeltas):
 * per hardware type and component, from the image of the component its devices run to the
 * release's image of it, minus those recorded already. Each
 * build names the exact objects (key and version) and what they must measure, so the builder
 * reads nothing else. A rollback rollout gets none: it ships full images (its targets are signed
 * per rollout, with no delta paths) and should not wait for builds.
 */
export const makePlanDeltas =
  (ports: { rollouts: RolloutStore; releases: ReleaseCatalog; deltas: DeltaStore }) =>
  async (rolloutId: string): Promise<DeltaPlan> => {
    const { rollouts, releases, deltas } = ports;
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    if (rollout.operation === 'rollback') return { builds: [] };
    const release = await releases.getRelease(rollout.releaseId);
    if (!release) throw new Error(`Release ${rollout.releaseId} of rollout ${rolloutId} not found`);

    // What the devices ran when the rollout started, counted then: one read at any fleet size.
    const executions = rollout.bases ?? [];
    const fromVersions = new Set(
      executions.flatMap((e) => (e.fromVersion !== release.version ? [e.fromVersion] : [])),
    );
    const baseReleases: ReleaseImages[] = [];
    for (const version of fromVersions) {
      const found = await releases.findByVersion(version);
      if (found) baseReleases.push(imagesOf(found));
    }
    const existing = await deltas.listDeltas(release.releaseId);

    const builds = planDeltas(imagesOf(release), executions, baseReleases, existing).map(
      (build): DeltaBuildRequest => ({
        releaseId: build.releaseId,
        version: build.version,
        hardwareType: build.hardwareType,
        component: build.component,
        base: { ...storedImage(build.base), releaseId: build.base.releaseId, version: build.base.version },
        image: storedImage(build.image),
        deltaKey: deltaKey(build.releaseId, build.hardwareType, build.component, build.base.sha256),
        deviceCount: build.deviceCount,
      }),
    );
    return { builds };
  };

/** Every image of a release, per hardware type and component. */
const imagesOf = (release: ReleaseForRollout): ReleaseImages => ({
  releaseId: release.releaseId,
  version: release.version,
  images: Object.entries(release.components).flatMap(([hardwareType, components]) =>
    components.map((c) => ({
      hardwareType,
      component: c.name,
      key: c.key,
      ...(c.versionId === undefined ? {} : { versionId: c.versionId }),
      size: c.size,
      sha256: c.sha256,
    })),
  ),
});
