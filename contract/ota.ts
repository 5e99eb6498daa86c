/**
 * The OTA contract between the control plane and device agents, versioned. A change that removes
 * or retypes a field is a breaking change: add a V2 beside V1 instead.
 *
 * - The job document rides in one AWS IoT job per wave (≤ 32 KB).
 * - Devices publish progress and health on `edgeops/devices/<thingName>/ota`, and also set the
 *   stage in the job execution's statusDetails for the AWS console.
 */
import { COMPONENT_NAME, HANDLER_NAME, MAX_COMPONENTS, OTA_STAGES, TUF_METADATA_FILE } from './ota-names';
import * as z from './zod-mini';

export * from './ota-names';

const version = z
  .string()
  .check(z.minLength(1), z.maxLength(64), z.regex(/^[0-9A-Za-z.+_-]+$/, 'use letters, digits and . + _ -'));
const sha256 = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256'));
const id64 = z.string().check(z.minLength(1), z.maxLength(64));
const positiveInt = z.number().check(z.int(), z.positive());
const nonNegativeInt = z.number().check(z.int(), z.nonnegative());

const httpsOrHttpUrl = z.string().check(z.url());

const componentName = z
  .string()
  .check(z.regex(COMPONENT_NAME, 'a component name: a-z, 0-9 and -, at most 32'));
const handlerName = z.string().check(z.regex(HANDLER_NAME, 'a handler name: a-z, 0-9 and -, at most 32'));

/**
 * Handler settings: a few short strings (paths, unit names, URLs), never secrets. A handler reads
 * setting `health-url` as `EDGEOPS_CONFIG_HEALTH_URL` (docs/update-modules.md).
 */
export const ComponentSettings = z
  .record(
    z.string().check(z.regex(/^[a-z][a-z0-9-]{0,63}$/, 'a setting name: a-z, 0-9 and -, at most 64')),
    z.string().check(z.maxLength(512)),
  )
  .check(z.refine((settings) => Object.keys(settings).length <= 16, { message: 'at most 16 settings' }));
export type ComponentSettings = z.infer<typeof ComponentSettings>;

export const ComponentFacts = z.strictObject({
  name: componentName,
  handler: handlerName,
  order: z.number().check(z.int(), z.gte(0), z.lt(MAX_COMPONENTS)),
  version,
  settings: z._default(ComponentSettings, {}),
});
export type ComponentFacts = z.infer<typeof ComponentFacts>;

/**
 * How long a download may take, for one hardware type, when the device's defaults (from the
 * signed length) do not suit it: a floor on the average rate, and a ceiling on the whole time
 * spent downloading (time spent waiting for a download window or an unmetered link not counted).
 */
export const DownloadLimits = z.strictObject({
  minBytesPerSecond: z.optional(z.number().check(z.int(), z.gte(1), z.lte(1_000_000_000))),
  maxSeconds: z.optional(z.number().check(z.int(), z.gte(1), z.lte(30 * 24 * 3600))),
});
export type DownloadLimits = z.infer<typeof DownloadLimits>;

/**
 * What the backend signs about each target, in `custom.edgeops` of the targets metadata. The
 * device trusts these fields only because they are inside the signed metadata; the job document
 * merely points at them.
 */
export const SignedTargetFacts = z.strictObject({
  releaseId: id64,
  version,
  hardwareType: id64,
  kind: z.enum(['image', 'delta']),
  /** For a delta: the image it applies to, and the image it rebuilds (hash and length). */
  base: z.optional(z.strictObject({ sha256, length: positiveInt })),
  image: z.optional(z.strictObject({ sha256, length: positiveInt })),
  /** Present only on `rollback/...` targets: the downgrade this rollout may make, until when. */
  rollback: z.optional(z.strictObject({ rolloutId: id64, notAfter: z.string().check(z.iso.datetime()) })),
  /**
   * Present on the targets of a multi-component release (v3): which component this is, the handler
   * that installs it, its place in the install order (0 first), its own version, and the settings
   * its handler reads (for example where an app goes and which service to restart). Signed,
   * because they decide what the device changes.
   */
  component: z.optional(ComponentFacts),
});
export type SignedTargetFacts = z.infer<typeof SignedTargetFacts>;

/**
 * The job document, version 2. Every fact a device acts on (hashes, lengths, versions, hardware
 * type) comes from the TUF metadata the device verifies; the document only says which targets to
 * look up and where to fetch bytes. Agents refuse `edgeops.ota.v1`, which carried unsigned hashes.
 */
export const JobDocumentV2 = z.strictObject({
  schema: z.literal('edgeops.ota.v2'),
  rolloutId: id64,
  waveIndex: nonNegativeInt,
  /** `install` moves forward; `rollback` returns to an earlier release the operator chose. */
  operation: z.enum(['install', 'rollback']),
  release: z.strictObject({ releaseId: id64, version }),
  /** TUF metadata file name → URL to GET it from (presigned, short-lived). */
  trust: z.strictObject({
    metadata: z
      .record(z.string().check(z.regex(TUF_METADATA_FILE, 'a TUF metadata file name')), httpsOrHttpUrl)
      .check(
        z.refine((files) => ['timestamp.json', 'snapshot.json', 'targets.json'].every((f) => f in files), {
          message: 'needs timestamp.json, snapshot.json and targets.json',
        }),
      ),
  }),
  /**
   * One entry per hardware type in the release (a wave mixes hardware types but has one job);
   * the device takes the one for its own hardware type and rejects the job if there is none.
   */
  artifacts: z
    .array(
      z.strictObject({
        hardwareType: id64,
        /** The TUF target path of the full image. */
        target: z.string().check(z.minLength(1), z.maxLength(256)),
        /** HTTPS URL the device GETs (with Range to resume); presigned, short-lived. */
        url: httpsOrHttpUrl,
        /** Deltas to this image from base images devices of the wave run. */
        deltas: z._default(
          z
            .array(
              z.strictObject({
                baseSha256: sha256,
                target: z.string().check(z.minLength(1), z.maxLength(256)),
                url: httpsOrHttpUrl,
              }),
            )
            .check(z.maxLength(8)),
          [],
        ),
      }),
    )
    .check(z.minLength(1), z.maxLength(16)),
  /** How long the new slot must stay healthy after boot before the device confirms it. */
  healthCheckSeconds: z.number().check(z.int(), z.gte(0), z.lte(3600)),
});
export type JobDocumentV2 = z.infer<typeof JobDocumentV2>;
export type JobDocumentV2Input = z.input<typeof JobDocumentV2>;

const deltaOffers = z._default(
  z
    .array(
      z.strictObject({
        baseSha256: sha256,
        target: z.string().check(z.minLength(1), z.maxLength(256)),
        url: httpsOrHttpUrl,
      }),
    )
    .check(z.maxLength(8)),
  [],
);

/**
 * The job document, version 3: a release of several components per hardware type (for example
 * rootfs + app + model + config), each its own signed target with its own handler and deltas.
 * The device installs them in the signed `order`, skips a component whose signed image it already
 * runs, and rolls every installed one back if any fails. What a component is (handler, order,
 * version, settings) is read from the signed metadata only; the document names the targets.
 */
export const JobDocumentV3 = z.strictObject({
  schema: z.literal('edgeops.ota.v3'),
  rolloutId: id64,
  waveIndex: nonNegativeInt,
  operation: z.enum(['install', 'rollback']),
  release: z.strictObject({ releaseId: id64, version }),
  trust: JobDocumentV2.shape.trust,
  artifacts: z
    .array(
      z.strictObject({
        hardwareType: id64,
        components: z
          .array(
            z.strictObject({
              name: componentName,
              /** The TUF target path of the component's full image. */
              target: z.string().check(z.minLength(1), z.maxLength(256)),
              url: httpsOrHttpUrl,
              deltas: deltaOffers,
            }),
          )
          .check(
            z.minLength(1),
            z.maxLength(MAX_COMPONENTS),
            z.refine((cs) => new Set(cs.map((c) => c.name)).size === cs.length, {
              message: 'component names must differ',
            }),
          ),
        download: z.optional(DownloadLimits),
      }),
    )
    .check(z.minLength(1), z.maxLength(16)),
  healthCheckSeconds: z.number().check(z.int(), z.gte(0), z.lte(3600)),
});
export type JobDocumentV3 = z.infer<typeof JobDocumentV3>;
export type JobDocumentV3Input = z.input<typeof JobDocumentV3>;

/** Every job document a current agent acts on. */
export const JobDocument = z.discriminatedUnion('schema', [JobDocumentV2, JobDocumentV3]);
export type JobDocument = z.infer<typeof JobDocument>;

export const OtaEventV1 = z.strictObject({
  schema: z.literal('edgeops.ota-event.v1'),
  /** Unique per event; a repeated id is a duplicate and changes nothing. */
  eventId: z.string().check(z.uuid()),
  deviceId: z.string().check(z.minLength(1), z.maxLength(128)),
  rolloutId: id64,
  jobId: id64,
  stage: z.enum(OTA_STAGES),
  /** Version the device runs now (after a switch: the new one; after a revert: the old one). */
  runningVersion: version,
  slot: z.enum(['A', 'B']),
  /** Device clock, epoch ms; with `seq` it orders events from one device. */
  at: positiveInt,
  /** Per device and job, increasing; an event with a lower seq than one applied is stale. */
  seq: nonNegativeInt,
  /** Why, for failed / rolled-back (e.g. `sha256-mismatch`, `health-check-failed`, `crash-before-confirm`). */
  reason: z.optional(z.string().check(z.maxLength(256))),
  /** Bytes fetched over the network for this update so far (image or delta). */
  bytesDownloaded: z.optional(nonNegativeInt),
  /** How the image came: in full, or rebuilt from a delta (`imageBytes` is the full image's size). */
  transfer: z.optional(z.strictObject({ mode: z.enum(['full', 'delta']), imageBytes: nonNegativeInt })),
});
export type OtaEventV1 = z.infer<typeof OtaEventV1>;
