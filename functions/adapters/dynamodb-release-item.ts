/**
 * How a release is stored in the fleet table, apart from the keys: shared by the release store
 * (API) and the release catalog (rollouts), which read the same item.
 *
 * A release item holds its components in install order, each with its handler and settings once
 * and its artifact per hardware type (`components: [{name, handler, settings, artifacts: {<hw>:
 * …}}]`). Settings are stored per component, not per hardware type, which keeps the largest
 * release (8 components × 16 hardware types, 16 settings of 512 characters each) far below
 * DynamoDB's 400 KB item limit. Releases stored before multi-component releases have `artifacts`
 * (hardware type → artifact) instead: they read as one `firmware` component on the `rootfs` handler.
 */
import type { DownloadLimits } from '../../contract/ota';
import { FIRMWARE_COMPONENT, ROOTFS_HANDLER } from '../../contract/ota-names';
import type { Release, ReleasedArtifact, ReleasedComponent } from '../domain/release';

interface StoredComponent {
  readonly name: string;
  /** Absent on the one component read from a release stored before components: 0. */
  readonly order?: number;
  readonly handler: string;
  readonly settings?: Readonly<Record<string, string>>;
  readonly artifacts: Readonly<Record<string, ReleasedArtifact>>;
}

export interface StoredRelease {
  readonly releaseId: string;
  readonly version: string;
  readonly notes?: string;
  readonly createdAt: string;
  readonly components?: readonly StoredComponent[];
  readonly downloadLimits?: Readonly<Record<string, DownloadLimits>>;
  /** Releases stored before multi-component releases: hardware type → its one artifact. */
  readonly artifacts?: Readonly<Record<string, ReleasedArtifact>>;
}

/** The release's attributes as stored (without keys and entity). */
export function releaseItem(release: Release): StoredRelease {
  const byName = new Map<string, { order: number; component: StoredComponent }>();
  for (const [hardwareType, components] of Object.entries(release.components)) {
    for (const c of components) {
      const stored = byName.get(c.name) ?? {
        order: c.order,
        component: { name: c.name, order: c.order, handler: c.handler, settings: c.settings, artifacts: {} },
      };
      byName.set(c.name, {
        ...stored,
        component: {
          ...stored.component,
          artifacts: { ...stored.component.artifacts, [hardwareType]: c.artifact },
        },
      });
    }
  }
  return {
    releaseId: release.releaseId,
    version: release.version,
    ...(release.notes === undefined ? {} : { notes: release.notes }),
    createdAt: release.createdAt,
    components: [...byName.values()].sort((a, b) => a.order - b.order).map((c) => c.component),
    ...(release.downloadLimits === undefined ? {} : { downloadLimits: release.downloadLimits }),
  };
}

/** The release a stored item holds, of either shape. */
export function releaseFromItem(item: Record<string, unknown>): Release {
  const stored = item as unknown as StoredRelease;
  const components: readonly StoredComponent[] = stored.components ?? [
    { name: FIRMWARE_COMPONENT, handler: ROOTFS_HANDLER, artifacts: stored.artifacts ?? {} },
  ];
  const byHardware: Record<string, ReleasedComponent[]> = {};
  components.forEach((c, index) => {
    for (const [hardwareType, artifact] of Object.entries(c.artifacts)) {
      byHardware[hardwareType] = [
        ...(byHardware[hardwareType] ?? []),
        { name: c.name, handler: c.handler, order: c.order ?? index, settings: c.settings ?? {}, artifact },
      ];
    }
  });
  return {
    releaseId: stored.releaseId,
    version: stored.version,
    ...(stored.notes === undefined ? {} : { notes: stored.notes }),
    createdAt: stored.createdAt,
    components: byHardware,
    ...(stored.downloadLimits === undefined ? {} : { downloadLimits: stored.downloadLimits }),
  };
}
