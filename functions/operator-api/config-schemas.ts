import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { CONFIG_KEYS, type ConfigValues, parseConfigValues } from '../../contract/device-config';
import * as z from '../../contract/zod-mini';
import type { ConfigLayer, MergedConfig } from '../domain/device-config';
import { ValidationError } from '../domain/errors';

/** Query of `GET /sites/{site}/config/drift`. */
export const ConfigDriftQuery = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 50),
  cursor: z.optional(z.string().check(z.maxLength(2048))),
});

/** Body of `PUT /devices/{id}/bandwidth-policy` and `PUT /sites/{site}/bandwidth-policy` (aliases). */
export const BandwidthPolicyBody = BandwidthPolicy;

/**
 * A layer body (`PUT …/config`): an object of configuration keys, each checked with its own
 * schema. A ValidationError names each unknown key or bad field (`bandwidthPolicy.timeZone`).
 */
export function parseLayerBody(body: string | null, isBase64Encoded = false): ConfigValues {
  let json: unknown;
  try {
    const text = isBase64Encoded && body ? Buffer.from(body, 'base64').toString('utf8') : body;
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ValidationError('Invalid request body: not valid JSON', [
      { field: '(body)', message: 'not valid JSON' },
    ]);
  }
  const parsed = parseConfigValues(json);
  if (!parsed.ok)
    throw new ValidationError(
      `Invalid configuration: ${parsed.issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      parsed.issues,
    );
  return parsed.values;
}

/** A layer as answered: null when it sets nothing. */
export const layerView = (layer: ConfigLayer) =>
  Object.keys(layer.values).length === 0 && layer.version === 0
    ? null
    : { values: layer.values, version: layer.version, updatedAt: layer.updatedAt ?? null };

export const mergedView = (merged: MergedConfig) => ({
  revision: merged.revision,
  values: merged.values,
  sources: merged.sources,
});

/** Body of `PUT /config/fleet`, `PUT /sites/{site}/config`, `PUT /devices/{id}/config` (documents the keys; parseLayerBody checks). */
export const ConfigLayerBody = z.strictObject({
  bandwidthPolicy: z.optional(CONFIG_KEYS.bandwidthPolicy),
  telemetry: z.optional(CONFIG_KEYS.telemetry),
  logLevel: z.optional(CONFIG_KEYS.logLevel),
});

const LayerView = z.nullable(
  z.object({
    values: z.record(z.string(), z.unknown()),
    version: z.number(),
    updatedAt: z.nullable(z.string()),
  }),
);
const MergedView = z.object({
  revision: z.string(),
  values: z.record(z.string(), z.unknown()),
  sources: z.record(z.string(), z.enum(['fleet', 'site', 'device'])),
});

/** Answer of `GET /config/fleet`. */
export const FleetConfigView = z.object({ layer: LayerView, merged: MergedView });
/** Answer of `GET /sites/{site}/config`. */
export const SiteConfigView = z.object({
  site: z.string(),
  layer: LayerView,
  fleet: LayerView,
  merged: MergedView,
});
/** Answer of a shared layer write (202: the fan-out delivers it). */
export const SharedLayerWriteView = z.object({
  site: z.optional(z.string()),
  layer: LayerView,
  merged: MergedView,
  fanOut: z.literal('queued'),
});
/** Answer of `PUT|DELETE /devices/{id}/config`. */
export const DeviceLayerWriteView = z.object({
  deviceId: z.string(),
  layer: LayerView,
  desired: MergedView,
  delivery: z.enum(['delivered', 'unchanged', 'refused', 'superseded']),
});
/** Answer of `GET /devices/{id}/config`. */
export const DeviceConfigView = z.object({
  deviceId: z.string(),
  site: z.string(),
  layers: z.object({ fleet: LayerView, site: LayerView, device: LayerView }),
  desired: MergedView,
  delivery: z.object({
    desiredRevision: z.optional(z.string()),
    deliveredRevision: z.optional(z.string()),
    error: z.optional(z.string()),
  }),
  reported: z.nullable(
    z.object({
      revision: z.string(),
      applied: z.record(z.string(), z.unknown()),
      rejected: z.record(z.string(), z.string()),
      seq: z.number(),
      reportedAt: z.string(),
    }),
  ),
  drift: z.object({ drifting: z.boolean(), keys: z.array(z.string()), revisionPending: z.boolean() }),
});
/** Answer of `GET /sites/{site}/config/drift`. */
export const SiteConfigDriftView = z.object({
  site: z.string(),
  devices: z.array(
    z.object({
      deviceId: z.string(),
      desiredRevision: z.optional(z.string()),
      reportedRevision: z.optional(z.string()),
      rejected: z.optional(z.record(z.string(), z.string())),
      deliveryError: z.optional(z.string()),
    }),
  ),
  nextCursor: z.nullable(z.string()),
});
