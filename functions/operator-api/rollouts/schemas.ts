import { OTA_STAGES } from '../../../contract/ota-names';
import { MetricName } from '../../../contract/telemetry';
import * as z from '../../../contract/zod-mini';
import { DEVICE_ID_PATTERN, LABEL_PATTERN } from '../../domain/device';
import {
  DEFAULT_MIN_BASELINE_DEVICES,
  GATE_STATS,
  MAX_BASELINE_SAMPLE,
  MAX_GATES_PER_WAVE,
} from '../../domain/telemetry-gate';

const label = z.string().check(z.regex(LABEL_PATTERN, '1-64 of letters, digits and _ . @ / : # = -'));

/**
 * A telemetry gate on a wave (domain/telemetry-gate.ts). Exactly one limit; the baseline minimum
 * can be no larger than the baseline a gate reads per cohort.
 */
const TelemetryGate = z
  .strictObject({
    metric: MetricName,
    stat: z.enum(GATE_STATS, { error: `stat must be one of ${GATE_STATS.join(', ')}` }),
    maxIncreasePercent: z.optional(
      z
        .number()
        .check(
          z.gte(0, 'maxIncreasePercent is a percent, 0-1000'),
          z.lte(1000, 'maxIncreasePercent is a percent, 0-1000'),
        ),
    ),
    maxIncrease: z.optional(
      z
        .number()
        .check(
          z.gte(0, 'maxIncrease must be at least 0'),
          z.refine(Number.isFinite, 'maxIncrease must be a finite number'),
        ),
    ),
    minBaselineDevices: z._default(
      z
        .number()
        .check(
          z.int(),
          z.gte(1, 'minBaselineDevices must be at least 1'),
          z.lte(MAX_BASELINE_SAMPLE, `minBaselineDevices must be at most ${MAX_BASELINE_SAMPLE}`),
        ),
      DEFAULT_MIN_BASELINE_DEVICES,
    ),
    onMissingData: z._default(z.enum(['halt', 'pass']), 'halt'),
  })
  .check(
    z.refine((g) => (g.maxIncreasePercent === undefined) !== (g.maxIncrease === undefined), {
      message: 'give exactly one of maxIncreasePercent or maxIncrease',
      path: ['maxIncreasePercent'],
    }),
  );

const Wave = z
  .strictObject({
    count: z.optional(z.number().check(z.int(), z.gte(1, 'count must be at least 1'))),
    percent: z.optional(
      z.number().check(z.gt(0, 'percent must be above 0'), z.lte(100, 'percent must be at most 100')),
    ),
    soakSeconds: z._default(z.number().check(z.int(), z.gte(0), z.lte(7 * 24 * 3600)), 0),
    successThreshold: z._default(
      z
        .number()
        .check(
          z.gte(0, 'successThreshold is a percent, 0-100'),
          z.lte(100, 'successThreshold is a percent, 0-100'),
        ),
      100,
    ),
    maxFailures: z._default(z.number().check(z.int(), z.gte(0)), 0),
    requireApproval: z._default(z.boolean(), false),
    gates: z.optional(
      z
        .array(TelemetryGate)
        .check(z.maxLength(MAX_GATES_PER_WAVE, `at most ${MAX_GATES_PER_WAVE} gates per wave`)),
    ),
  })
  .check(
    z.refine((w) => (w.count === undefined) !== (w.percent === undefined), {
      message: 'give exactly one of count or percent',
    }),
  );

const Target = z.union(
  [
    z.strictObject({
      thingGroup: z.string().check(z.regex(/^[a-zA-Z0-9:_-]{1,128}$/, 'not a thing group name')),
    }),
    z.strictObject({
      deviceIds: z
        .array(z.string().check(z.regex(DEVICE_ID_PATTERN)))
        .check(z.minLength(1), z.maxLength(1000)),
    }),
    z.strictObject({
      filter: z
        .strictObject({
          site: z.optional(label),
          region: z.optional(label),
          hardwareType: z.optional(label),
          currentVersion: z.optional(label),
        })
        .check(
          z.refine((f) => Object.keys(f).length > 0, {
            message: 'name at least one of site, region, hardwareType, currentVersion',
          }),
        ),
    }),
  ],
  { error: 'target must be one of {thingGroup}, {deviceIds} or {filter}' },
);

/** Body of `POST /rollouts` and `POST /rollouts/preview`. */
export const RolloutRequestBody = z.strictObject({
  releaseId: z
    .string({ error: 'releaseId is required' })
    .check(z.regex(/^rel-[0-9A-Za-z.+_-]{1,60}$/, 'not a release id')),
  target: Target,
  waves: z.array(Wave).check(z.minLength(1, 'give at least one wave'), z.maxLength(10, 'at most 10 waves')),
  failurePolicy: z._default(z.enum(['halt', 'rollback']), 'halt'),
  force: z._default(z.boolean(), false),
});

export const RolloutPath = z.object({
  rolloutId: z.string().check(z.regex(/^ro-[0-9a-f]{12}$/, 'not a rollout id')),
});

const pageLimit = z.coerce.number().check(z.int(), z.gte(1), z.lte(100));
const cursor = z.optional(z.string().check(z.maxLength(2048)));

export const RolloutDevicesQuery = z.strictObject({
  wave: z.optional(z.coerce.number().check(z.int(), z.gte(1), z.lte(10))),
  stage: z.optional(z.enum(['pending', ...OTA_STAGES])),
  limit: z._default(pageLimit, 50),
  // Opaque; the store checks it is one it issued for this rollout.
  cursor,
});

export const ListRolloutsQuery = z.strictObject({
  limit: z._default(pageLimit, 25),
  cursor,
});
