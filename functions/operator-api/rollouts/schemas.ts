import { z } from 'zod';
import { DEVICE_ID_PATTERN, LABEL_PATTERN } from '../../domain/device';

const label = z.string().regex(LABEL_PATTERN, '1-64 of letters, digits and _ . @ / : # = -');

const Wave = z
  .strictObject({
    count: z.number().int().min(1, 'count must be at least 1').optional(),
    percent: z.number().gt(0, 'percent must be above 0').max(100, 'percent must be at most 100').optional(),
    soakSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(0),
    successThreshold: z
      .number()
      .min(0, 'successThreshold is a percent, 0-100')
      .max(100, 'successThreshold is a percent, 0-100')
      .default(100),
    maxFailures: z.number().int().min(0).default(0),
    requireApproval: z.boolean().default(false),
  })
  .refine((w) => (w.count === undefined) !== (w.percent === undefined), {
    message: 'give exactly one of count or percent',
  });

const Target = z.union(
  [
    z.strictObject({ thingGroup: z.string().regex(/^[a-zA-Z0-9:_-]{1,128}$/, 'not a thing group name') }),
    z.strictObject({ deviceIds: z.array(z.string().regex(DEVICE_ID_PATTERN)).min(1).max(1000) }),
    z.strictObject({
      filter: z
        .strictObject({
          site: label.optional(),
          region: label.optional(),
          hardwareType: label.optional(),
          currentVersion: label.optional(),
        })
        .refine((f) => Object.keys(f).length > 0, {
          message: 'name at least one of site, region, hardwareType, currentVersion',
        }),
    }),
  ],
  { error: 'target must be one of {thingGroup}, {deviceIds} or {filter}' },
);

/** Body of `POST /rollouts` and `POST /rollouts/preview`. */
export const RolloutRequestBody = z.strictObject({
  releaseId: z
    .string({ error: 'releaseId is required' })
    .regex(/^rel-[0-9A-Za-z.+_-]{1,60}$/, 'not a release id'),
  target: Target,
  waves: z.array(Wave).min(1, 'give at least one wave').max(10, 'at most 10 waves'),
  failurePolicy: z.enum(['halt', 'rollback']).default('halt'),
  force: z.boolean().default(false),
});

export const RolloutPath = z.object({ rolloutId: z.string().regex(/^ro-[0-9a-f]{12}$/, 'not a rollout id') });

export const RolloutDevicesQuery = z.strictObject({
  wave: z.coerce.number().int().min(1).max(10).optional(),
  stage: z
    .enum(['pending', 'queued', 'downloading', 'installing', 'rebooting', 'healthy', 'failed', 'rolled-back'])
    .optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z
    .string()
    .regex(/^[0-9a-z]{1,10}$/, 'not a cursor issued by this API')
    .optional(),
});

export const ListRolloutsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().max(2048).optional(),
});
