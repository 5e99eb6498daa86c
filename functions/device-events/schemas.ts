import { z } from 'zod';
import { DEVICE_ID_PATTERN } from '../domain/device';

const deviceId = z.string().regex(DEVICE_ID_PATTERN, 'not a valid device id');

/**
 * What the shadow report rule forwards (V1): the `update/accepted` document of a device's classic
 * shadow, plus `thingName` taken from the topic. Only `firmwareVersion` is read from `reported`.
 */
export const ShadowReportEventV1 = z.object({
  thingName: deviceId,
  version: z.number().int().nonnegative(),
  timestamp: z.number().int().positive(),
  state: z.object({
    reported: z.looseObject({
      firmwareVersion: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[0-9A-Za-z.+_-]+$/, 'use letters, digits and . + _ -')
        .optional(),
    }),
  }),
});
export type ShadowReportEventV1 = z.infer<typeof ShadowReportEventV1>;

/** An AWS IoT lifecycle event (`$aws/events/presence/{connected|disconnected}/{clientId}`), V1. */
export const ConnectionEventV1 = z.object({
  clientId: deviceId,
  eventType: z.enum(['connected', 'disconnected']),
  timestamp: z.number().int().positive(),
});
export type ConnectionEventV1 = z.infer<typeof ConnectionEventV1>;
