import { JOB_EXECUTION_STATUSES } from '../../contract/iot-jobs';
import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN } from '../domain/device';

const deviceId = z.string().check(z.regex(DEVICE_ID_PATTERN, 'not a valid device id'));
const epochTime = z.number().check(z.int(), z.positive());

/**
 * What the shadow report rule forwards (V1): the `update/accepted` document of a device's classic
 * shadow, plus `thingName` taken from the topic. Only `firmwareVersion` is read from `reported`.
 */
export const ShadowReportEventV1 = z.object({
  thingName: deviceId,
  version: z.number().check(z.int(), z.nonnegative()),
  timestamp: epochTime,
  state: z.object({
    reported: z.looseObject({
      firmwareVersion: z.optional(
        z
          .string()
          .check(
            z.minLength(1),
            z.maxLength(64),
            z.regex(/^[0-9A-Za-z.+_-]+$/, 'use letters, digits and . + _ -'),
          ),
      ),
    }),
  }),
});
export type ShadowReportEventV1 = z.infer<typeof ShadowReportEventV1>;

/** An AWS IoT lifecycle event (`$aws/events/presence/{connected|disconnected}/{clientId}`), V1. */
export const ConnectionEventV1 = z.object({
  clientId: deviceId,
  eventType: z.enum(['connected', 'disconnected']),
  timestamp: epochTime,
});
export type ConnectionEventV1 = z.infer<typeof ConnectionEventV1>;

/** `arn:<partition>:iot:<region>:<account>:thing/<thingName>` → the thing name. */
const THING_ARN = /^arn:[a-z-]+:iot:[a-z0-9-]+:\d{12}:thing\/(.+)$/;

const JobExecutionEventFields = z.looseObject({
  eventType: z.literal('JOB_EXECUTION'),
  jobId: z.string().check(z.minLength(1), z.maxLength(64)),
  thingArn: z.string().check(z.regex(THING_ARN, 'not a thing ARN')),
  status: z.enum(JOB_EXECUTION_STATUSES),
  timestamp: epochTime,
});

/**
 * An AWS IoT job execution event (`$aws/events/jobExecution/<jobId>/<operation>`), V1, as AWS
 * publishes it once an execution reaches a terminal status: `eventType` JOB_EXECUTION,
 * `operation`, `jobId`, `thingArn`, `status`, `timestamp`, maybe `statusDetails` and more. Only
 * what we read is checked; it comes out as the device (the thing name) and when. AWS documents
 * this `timestamp` in epoch seconds (other events use milliseconds); both read right.
 */
export const JobExecutionEventV1 = z.pipe(
  z.pipe(
    JobExecutionEventFields,
    z.transform(({ jobId, thingArn, status, timestamp }: z.output<typeof JobExecutionEventFields>) => ({
      jobId,
      deviceId: THING_ARN.exec(thingArn)?.[1] ?? '',
      status,
      at: new Date(timestamp < 1e11 ? timestamp * 1000 : timestamp),
    })),
  ),
  z.object({
    jobId: z.string(),
    deviceId: deviceId,
    status: z.enum(JOB_EXECUTION_STATUSES),
    at: z.date(),
  }),
);
export type JobExecutionEventV1 = z.output<typeof JobExecutionEventV1>;
