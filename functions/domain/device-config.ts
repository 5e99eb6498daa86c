/**
 * Layered device configuration (contract/device-config.ts): merging the fleet, site and device
 * layers, the limits a merged result must meet, and drift (desired ≠ what the device applied).
 * Pure: no I/O.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  type ConfigIssue,
  type ConfigKey,
  type ConfigValues,
  configRevision,
  desiredConfigState,
  EMPTY_CONFIG_REVISION,
  isConfigKey,
  shadowLimitIssues,
} from '../../contract/device-config';
import { ValidationError } from './errors';

export type ConfigLayerName = 'fleet' | 'site' | 'device';

/** Which layer: the fleet's, one site's, or one device's. */
export type ConfigScope =
  | { readonly layer: 'fleet' }
  | { readonly layer: 'site'; readonly site: string }
  | { readonly layer: 'device'; readonly deviceId: string };

/** One layer as stored: its values and a version that grows with every write of the layer. */
export interface ConfigLayer {
  readonly values: ConfigValues;
  readonly version: number;
  readonly updatedAt?: string;
}

export interface ConfigLayers {
  readonly fleet?: ConfigLayer | undefined;
  readonly site?: ConfigLayer | undefined;
  readonly device?: ConfigLayer | undefined;
}

export interface MergedConfig {
  readonly values: ConfigValues;
  readonly revision: string;
  /** For each key, the layer its value comes from. */
  readonly sources: Readonly<Partial<Record<ConfigKey, ConfigLayerName>>>;
}

const ORDER: readonly ConfigLayerName[] = ['fleet', 'site', 'device'];

/** Fleet, then site, then device: for each key the last layer that sets it wins (whole value). */
export function mergeConfig(layers: ConfigLayers): MergedConfig {
  const values: Record<string, unknown> = {};
  const sources: Partial<Record<ConfigKey, ConfigLayerName>> = {};
  for (const name of ORDER) {
    for (const [key, value] of Object.entries(layers[name]?.values ?? {})) {
      if (value === undefined || !isConfigKey(key)) continue;
      values[key] = value;
      sources[key] = name;
    }
  }
  const sorted = Object.fromEntries(
    Object.entries(values).sort(([a], [b]) => (a < b ? -1 : 1)),
  ) as ConfigValues;
  return { values: sorted, revision: configRevision(sorted), sources };
}

/**
 * Throws a ValidationError if the desired state built from `values` would not fit a shadow
 * (8 KB, 6 levels): checked for a layer on its own and for every merge it takes part in that
 * the caller can see, before anything is written.
 */
export function assertFitsShadow(values: ConfigValues, what: string): void {
  const issues = shadowLimitIssues(desiredConfigState(values));
  if (issues.length > 0)
    throw new ValidationError(`${what}: ${issues.map((i) => i.message).join('; ')}`, issues as ConfigIssue[]);
}

/** The layer-version stamp a delivery was computed from; a changed stamp means "compute again". */
export const layerStamp = (layers: ConfigLayers): string =>
  ORDER.map((name) => layers[name]?.version ?? 0).join('.');

/** What a device last reported having applied. */
export interface ConfigReportState {
  readonly revision: string;
  readonly applied: Readonly<Record<string, unknown>>;
  readonly rejected: Readonly<Record<string, string>>;
  readonly seq: number;
  readonly reportedAt: string;
}

export interface ConfigDrift {
  /** True when the device has not applied exactly the desired configuration. */
  readonly drifting: boolean;
  /** Keys whose applied value differs from the desired one (missing on either side counts). */
  readonly keys: readonly string[];
  /** The device has not (yet) reported the desired revision: offline, or the update is in flight. */
  readonly revisionPending: boolean;
}

/**
 * Drift between the desired values and what the device reported: per key, and whether the
 * device reported the desired revision at all. A device that never reported drifts on every
 * desired key; with no desired configuration and no report there is nothing to drift from.
 */
export function configDrift(desired: MergedConfig, reported: ConfigReportState | undefined): ConfigDrift {
  const applied = reported?.applied ?? {};
  const keys = [...new Set([...Object.keys(desired.values), ...Object.keys(applied)])]
    .filter((key) => !isDeepStrictEqual((desired.values as Record<string, unknown>)[key], applied[key]))
    .sort();
  const revisionPending = (reported?.revision ?? EMPTY_CONFIG_REVISION) !== desired.revision;
  return { drifting: keys.length > 0 || revisionPending, keys, revisionPending };
}

/**
 * Whether a device drifts, from what its item holds (the revision last delivered to it and its
 * last report): used where only revisions are at hand (the sparse drift index).
 */
export function driftsByRevision(
  desiredRevision: string | undefined,
  reported: Pick<ConfigReportState, 'revision' | 'rejected'> | undefined,
): boolean {
  const desired = desiredRevision ?? EMPTY_CONFIG_REVISION;
  if (!reported) return desired !== EMPTY_CONFIG_REVISION;
  return reported.revision !== desired || Object.keys(reported.rejected).length > 0;
}
