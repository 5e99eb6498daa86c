/**
 * AWS IoT Jobs vocabulary both sides read: the device in the Jobs MQTT API's payloads, the backend
 * in job execution events (`$aws/events/jobExecution/...`).
 */
export const JOB_EXECUTION_STATUSES = [
  'QUEUED',
  'IN_PROGRESS',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'REJECTED',
  'REMOVED',
  'CANCELED',
] as const;
export type JobExecutionStatus = (typeof JOB_EXECUTION_STATUSES)[number];
