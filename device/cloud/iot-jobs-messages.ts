/**
 * Payloads of the AWS IoT Jobs MQTT API the agent reads, parsed at the edge. Loose objects: the
 * service may add fields. Over MQTT `jobDocument` arrives as a JSON object; the HTTPS API returns
 * it as a string, so both are accepted and the OTA layer decides what the document means.
 */
import { z } from 'zod';
import { JOB_EXECUTION_STATUSES } from '../../contract/iot-jobs';

/** The statuses a device may set with UpdateJobExecution. */
export type DeviceSettableStatus = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'REJECTED';

/** Values must be non-empty strings without control characters, each ≤ 1024 characters. */
export type StatusDetails = Readonly<Record<string, string>>;

export const JobExecution = z.looseObject({
  jobId: z.string().min(1).max(64),
  status: z.enum(JOB_EXECUTION_STATUSES).optional(),
  statusDetails: z.record(z.string(), z.string()).optional(),
  jobDocument: z.unknown().optional(),
  versionNumber: z.number().optional(),
  executionNumber: z.number().optional(),
});
export type JobExecution = z.infer<typeof JobExecution>;

/** `notify-next`: the execution now first in the device's list; none when the list emptied. */
export const NextJobExecutionChanged = z.looseObject({
  timestamp: z.number().optional(),
  execution: JobExecution.optional(),
});

/** `start-next/accepted`: the execution the device now runs; none when nothing is pending. */
export const StartNextAccepted = z.looseObject({
  clientToken: z.string().optional(),
  timestamp: z.number().optional(),
  execution: JobExecution.optional(),
});

/** `update/accepted`. */
export const UpdateAccepted = z.looseObject({
  clientToken: z.string().optional(),
  timestamp: z.number().optional(),
});

/** Every `/rejected` response (ErrorResponse). */
export const JobsErrorResponse = z.looseObject({
  code: z.string(),
  message: z.string().optional(),
  clientToken: z.string().optional(),
});
export type JobsErrorResponse = z.infer<typeof JobsErrorResponse>;
