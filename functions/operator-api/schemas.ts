import { VERSION_PATTERN } from '../../contract/identifiers';
import * as z from '../../contract/zod-mini';
import { certificateRequestProblem } from '../domain/certificate-request';
import { DEVICE_ID_PATTERN, LABEL_PATTERN } from '../domain/device';
import { GROUP_BY_FIELDS, type GroupByField } from '../domain/fleet-summary';

const label = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .check(z.regex(LABEL_PATTERN, `${what}: 1-64 of letters, digits and _ . @ / : # = -`));

/** Body of `POST /devices`. */
export const RegisterDeviceRequest = z.strictObject({
  deviceId: z
    .string({ error: 'deviceId is required' })
    .check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -')),
  hardwareType: label('hardwareType'),
  site: label('site'),
  region: label('region'),
  /** PEM PKCS#10 made on the device: its certificate is signed from it and its key stays there. */
  csr: z.optional(
    z.string({ error: 'csr must be a string' }).check(
      z.superRefine((text, ctx) => {
        const problem = certificateRequestProblem(text);
        if (problem) ctx.issues.push({ code: 'custom', input: text, message: problem });
      }),
    ),
  ),
});

/** Path of `GET /devices/{deviceId}`. */
export const DevicePath = z.object({
  deviceId: z.string().check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -')),
});

const cursor = z.optional(z.string().check(z.maxLength(2048)));
const pageSize = (max: number, fallback: number) =>
  z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(max)), fallback);

/**
 * Query of `GET /devices`: every filter optional, all given ones must hold. Strict, so a
 * misspelt filter is a 400 rather than silently ignored (which would list the whole fleet).
 */
export const ListDevicesQuery = z.strictObject({
  site: z.optional(label('site')),
  region: z.optional(label('region')),
  hardwareType: z.optional(label('hardwareType')),
  version: z.optional(z.string().check(z.regex(VERSION_PATTERN, '1-64 of letters, digits and . + _ -'))),
  connectionState: z.optional(
    z.enum(['connected', 'disconnected', 'unknown'], 'one of connected, disconnected, unknown'),
  ),
  health: z.optional(
    z.enum(['healthy', 'degraded', 'unhealthy', 'unknown'], 'one of healthy, degraded, unhealthy, unknown'),
  ),
  /** Only `true`: a listing of the devices that are not flagged would be most of the fleet. */
  anomalous: z.optional(
    z.pipe(
      z.literal('true', 'only true is supported'),
      z.transform((): true => true),
    ),
  ),
  limit: pageSize(100, 25),
  cursor,
});

/** Query of `GET /fleet/anomalies`. */
export const ListAnomaliesQuery = z.strictObject({ limit: pageSize(100, 25), cursor });

/** Path of `PUT|DELETE /sites/{site}/bandwidth-policy`. */
export const SitePath = z.object({ site: label('site') });

/**
 * Query of `GET /fleet/summary`: `groupBy` is a comma-separated subset of GROUP_BY_FIELDS (none:
 * fleet totals). The cohort statistics count connection and health states separately, so both
 * cannot split one group.
 */
export const FleetSummaryQuery = z.strictObject({
  groupBy: z._default(
    z.pipe(
      z.string(),
      z.transform((text, ctx): GroupByField[] => {
        const fields = text.split(',').map((f) => f.trim());
        const unknown = fields.filter((f) => !(GROUP_BY_FIELDS as readonly string[]).includes(f));
        if (unknown.length > 0) {
          ctx.issues.push({
            code: 'custom',
            input: text,
            message: `unknown field ${unknown.map((f) => `'${f}'`).join(', ')}; use any of ${GROUP_BY_FIELDS.join(', ')}`,
          });
          return [];
        }
        if (new Set(fields).size !== fields.length) {
          ctx.issues.push({ code: 'custom', input: text, message: 'a field is named twice' });
          return [];
        }
        if (fields.includes('connectionState') && fields.includes('health')) {
          ctx.issues.push({
            code: 'custom',
            input: text,
            message: 'connectionState and health cannot be combined: the statistics count each separately',
          });
          return [];
        }
        return fields as GroupByField[];
      }),
    ),
    [],
  ),
});

/** Query of `GET /devices/{deviceId}/telemetry`. */
export const DeviceTelemetryQuery = z.strictObject({
  since: z.optional(
    z.pipe(
      z
        .string()
        .check(z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time, e.g. 2026-05-01T12:00:00Z' })),
      z.transform((text) => new Date(text)),
    ),
  ),
  /** Windows and alerts each. */
  limit: pageSize(500, 60),
});

/** `GET /fleet/metrics` takes no parameters (a scraper sends none). */
export const FleetMetricsQuery = z.strictObject({});
