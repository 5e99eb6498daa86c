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

const httpsOrHttpUrl = z.string().url();

/**
 * Names of the TUF metadata files a job document may carry URLs for: every root after the one
 * the device was registered with (`2.root.json`, …), and the current timestamp, snapshot and
 * targets. The repository does not use consistent snapshots, so the latter three have no version
 * in their names; TUF checks their versions against each other.
 */
export const TUF_METADATA_FILE = /^(?:[1-9]\d{0,5}\.root|timestamp|snapshot|targets)\.json$/;

/**
 * TUF target paths (in the signed targets metadata):
 * - `<releaseId>/<hardwareType>/image`: a release's full image for one hardware type;
 * - `<releaseId>/<hardwareType>/delta-<baseSha256>`: a zstd patch-from delta that rebuilds that
 *   image from the image whose SHA-256 is `baseSha256`;
 * - `rollback/<rolloutId>/<hardwareType>/image`: an older image the operator explicitly signed
 *   for a rollback rollout; the only way a device accepts an older version.
 */
export const imageTargetPath = (releaseId: string, hardwareType: string) =>
  `${releaseId}/${hardwareType}/image`;
export const deltaTargetPath = (releaseId: string, hardwareType: string, baseSha256: string) =>
  `${releaseId}/${hardwareType}/delta-${baseSha256}`;
export const rollbackTargetPath = (rolloutId: string, hardwareType: string) =>
  `rollback/${rolloutId}/${hardwareType}/image`;

/**
 * What the backend signs about each target, in `custom.edgeops` of the targets metadata. The
 * device trusts these fields only because they are inside the signed metadata; the job document
 * merely points at them.
 */
export const SignedTargetFacts = z.strictObject({
  releaseId: z.string().min(1).max(64),
  version,
  hardwareType: z.string().min(1).max(64),
  kind: z.enum(['image', 'delta']),
  /** For a delta: the image it applies to, and the image it rebuilds (hash and length). */
  base: z.strictObject({ sha256, length: z.number().int().positive() }).optional(),
  image: z.strictObject({ sha256, length: z.number().int().positive() }).optional(),
  /** Present only on `rollback/...` targets: the downgrade this rollout may make, until when. */
  rollback: z
    .strictObject({ rolloutId: z.string().min(1).max(64), notAfter: z.string().datetime() })
    .optional(),
});
export type SignedTargetFacts = z.infer<typeof SignedTargetFacts>;

/**
 * The job document, version 2. Every fact a device acts on (hashes, lengths, versions, hardware
 * type) comes from the TUF metadata the device verifies; the document only says which targets to
 * look up and where to fetch bytes. Agents refuse `edgeops.ota.v1`, which carried unsigned hashes.
 */
export const JobDocumentV2 = z.strictObject({
  schema: z.literal('edgeops.ota.v2'),
  rolloutId: z.string().min(1).max(64),
  waveIndex: z.number().int().nonnegative(),
  /** `install` moves forward; `rollback` returns to an earlier release the operator chose. */
  operation: z.enum(['install', 'rollback']),
  release: z.strictObject({ releaseId: z.string().min(1).max(64), version }),
  /** TUF metadata file name → URL to GET it from (presigned, short-lived). */
  trust: z.strictObject({
    metadata: z
      .record(z.string().regex(TUF_METADATA_FILE, 'a TUF metadata file name'), httpsOrHttpUrl)
      .refine((files) => ['timestamp.json', 'snapshot.json', 'targets.json'].every((f) => f in files), {
        message: 'needs timestamp.json, snapshot.json and targets.json',
      }),
  }),
  /**
   * One entry per hardware type in the release (a wave mixes hardware types but has one job);
   * the device takes the one for its own hardware type and rejects the job if there is none.
   */
  artifacts: z
    .array(
      z.strictObject({
        hardwareType: z.string().min(1).max(64),
        /** The TUF target path of the full image. */
        target: z.string().min(1).max(256),
        /** HTTPS URL the device GETs (with Range to resume); presigned, short-lived. */
        url: httpsOrHttpUrl,
        /** Deltas to this image from base images devices of the wave run. */
        deltas: z
          .array(
            z.strictObject({ baseSha256: sha256, target: z.string().min(1).max(256), url: httpsOrHttpUrl }),
          )
          .max(8)
          .default([]),
      }),
    )
    .min(1)
    .max(16),
  /** How long the new slot must stay healthy after boot before the device confirms it. */
  healthCheckSeconds: z.number().int().min(0).max(3600),
});
export type JobDocumentV2 = z.infer<typeof JobDocumentV2>;
export type JobDocumentV2Input = z.input<typeof JobDocumentV2>;

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
  /** Bytes fetched over the network for this update so far (image or delta). */
  bytesDownloaded: z.number().int().nonnegative().optional(),
  /** How the image came: in full, or rebuilt from a delta (`imageBytes` is the full image's size). */
  transfer: z
    .strictObject({ mode: z.enum(['full', 'delta']), imageBytes: z.number().int().nonnegative() })
    .optional(),
});
export type OtaEventV1 = z.infer<typeof OtaEventV1>;
