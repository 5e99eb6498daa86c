/**
 * The OTA contract between the control plane and device agents, versioned. A change that removes
 * or retypes a field is a breaking change: add a V2 beside V1 instead.
 *
 * - The job document rides in one AWS IoT job per wave (≤ 32 KB).
 * - Devices publish progress and health on `edgeops/devices/<thingName>/ota`, and also set the
 *   stage in the job execution's statusDetails for the AWS console.
 */
import { z } from 'zod';

export const OTA_EVENT_TOPIC = (thingName: string) => `edgeops/devices/${thingName}/ota`;

/** The funnel a device walks through, in order. Terminal: healthy, failed, rolled-back. */
export const OTA_STAGES = [
  'queued',
  'downloading',
  'installing',
  'rebooting',
  'healthy',
  'failed',
  'rolled-back',
] as const;
export type OtaStage = (typeof OTA_STAGES)[number];

const version = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[0-9A-Za-z.+_-]+$/, 'use letters, digits and . + _ -');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256');

export const JobDocumentV1 = z.strictObject({
  schema: z.literal('edgeops.ota.v1'),
  rolloutId: z.string().min(1).max(64),
  waveIndex: z.number().int().nonnegative(),
  /** `install` moves forward; `rollback` returns to an earlier release the operator chose. */
  operation: z.enum(['install', 'rollback']),
  release: z.strictObject({ releaseId: z.string().min(1).max(64), version }),
  /**
   * One image per hardware type in the release (a wave mixes hardware types but has one job);
   * the device takes the one for its own hardware type and rejects the job if there is none.
   */
  artifacts: z
    .array(
      z.strictObject({
        hardwareType: z.string().min(1).max(64),
        /** HTTPS URL the device GETs (with Range to resume); presigned, short-lived. */
        url: z.string().url(),
        size: z.number().int().positive(),
        sha256,
      }),
    )
    .min(1)
    .max(16),
  /** How long the new slot must stay healthy after boot before the device confirms it. */
  healthCheckSeconds: z.number().int().min(0).max(3600),
});
export type JobDocumentV1 = z.infer<typeof JobDocumentV1>;

export const OtaEventV1 = z.strictObject({
  schema: z.literal('edgeops.ota-event.v1'),
  /** Unique per event; a repeated id is a duplicate and changes nothing. */
  eventId: z.string().uuid(),
  deviceId: z.string().min(1).max(128),
  rolloutId: z.string().min(1).max(64),
  jobId: z.string().min(1).max(64),
  stage: z.enum(OTA_STAGES),
  /** Version the device runs now (after a switch: the new one; after a revert: the old one). */
  runningVersion: version,
  slot: z.enum(['A', 'B']),
  /** Device clock, epoch ms; with `seq` it orders events from one device. */
  at: z.number().int().positive(),
  /** Per device and job, increasing; an event with a lower seq than one applied is stale. */
  seq: z.number().int().nonnegative(),
  /** Why, for failed / rolled-back (e.g. `sha256-mismatch`, `health-check-failed`, `crash-before-confirm`). */
  reason: z.string().max(256).optional(),
  bytesDownloaded: z.number().int().nonnegative().optional(),
});
export type OtaEventV1 = z.infer<typeof OtaEventV1>;
