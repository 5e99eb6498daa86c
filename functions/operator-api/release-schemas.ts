import {
  COMPONENT_NAME,
  ComponentSettings,
  DownloadLimits,
  HANDLER_NAME,
  MAX_COMPONENTS,
} from '../../contract/ota';
import * as z from '../../contract/zod-mini';
import {
  ARTIFACT_ID_PATTERN,
  ARTIFACT_KINDS,
  MAX_ARTIFACT_SIZE,
  MAX_PARTS,
  VERSION_PATTERN,
} from '../domain/artifact';
import { LABEL_PATTERN } from '../domain/device';
import {
  MAX_HARDWARE_TYPES,
  RELEASE_ID_PATTERN,
  RELEASE_VERSION_PATTERN,
  type ReleaseRequest,
} from '../domain/release';

const artifactId = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .check(z.regex(ARTIFACT_ID_PATTERN, `${what}: not an artifact id`));

/** A file name or short label for people; it never becomes part of a key or path. */
const ARTIFACT_NAME_PATTERN = /^[\w .+()@-]{1,128}$/;

/** Body of `POST /artifacts`. */
export const CreateArtifactRequest = z.strictObject({
  kind: z.enum(ARTIFACT_KINDS, { error: `kind: one of ${ARTIFACT_KINDS.join(', ')}` }),
  hardwareType: z
    .string({ error: 'hardwareType is required' })
    .check(z.regex(LABEL_PATTERN, 'hardwareType: 1-64 of letters, digits and _ . @ / : # = -')),
  version: z
    .string({ error: 'version is required' })
    .check(z.regex(VERSION_PATTERN, 'version: 1-64 of letters, digits and . + _ -')),
  size: z
    .number({ error: 'size is required: the file size in bytes' })
    .check(
      z.int('size: a whole number of bytes'),
      z.positive('size: at least 1 byte'),
      z.lte(MAX_ARTIFACT_SIZE, `size: at most ${MAX_ARTIFACT_SIZE} bytes (20 GiB)`),
    ),
  name: z.optional(
    z
      .string()
      .check(z.regex(ARTIFACT_NAME_PATTERN, 'name: 1-128 of letters, digits, spaces and _ . + ( ) @ -')),
  ),
});

/** Path of `/artifacts/{artifactId}` routes. */
export const ArtifactPath = z.object({ artifactId: artifactId('artifactId') });

/** Body of `POST /artifacts/{artifactId}/complete`: the parts of a multipart upload, or nothing. */
export const CompleteArtifactRequest = z.optional(
  z.strictObject({
    parts: z.optional(
      z
        .array(
          z.strictObject({
            partNumber: z
              .number({ error: 'partNumber is required' })
              .check(z.int(), z.gte(1), z.lte(MAX_PARTS)),
            /** The ETag header S3 answered the part's PUT with. */
            etag: z.string({ error: 'etag is required' }).check(z.minLength(1), z.maxLength(128)),
          }),
        )
        .check(z.minLength(1), z.maxLength(MAX_PARTS)),
    ),
  }),
);

// At most 16 per list: one OTA job document carries at most 16 hardware types (contract/ota.ts).
const artifactIds = z
  .array(artifactId('artifact id'), { error: 'artifacts: a list of artifact ids' })
  .check(
    z.minLength(1, 'artifacts: at least one artifact'),
    z.maxLength(MAX_HARDWARE_TYPES, `artifacts: at most ${MAX_HARDWARE_TYPES}, one per hardware type`),
  );

/** One component of a multi-component release, in install order. */
const ReleaseComponentRequest = z.strictObject({
  name: z
    .string({ error: 'name is required' })
    .check(z.regex(COMPONENT_NAME, 'name: a-z, 0-9 and -, starting with a letter, at most 32')),
  handler: z
    .string({ error: 'handler is required: the update module that installs the component' })
    .check(z.regex(HANDLER_NAME, 'handler: a-z, 0-9 and -, starting with a letter, at most 32')),
  settings: z.optional(ComponentSettings),
  artifacts: artifactIds,
});

/**
 * Body of `POST /releases`: `artifacts` (one per hardware type: a single-image release, one
 * `firmware` component on the `rootfs` handler), or `components` in install order, each with its
 * handler, settings and one artifact per hardware type it is for, and optional download limits per
 * hardware type.
 */
export const CreateReleaseRequest = z
  .strictObject({
    version: z
      .string({ error: 'version is required' })
      .check(z.regex(RELEASE_VERSION_PATTERN, 'version: 1-60 of letters, digits and . + _ -')),
    artifacts: z.optional(artifactIds),
    components: z.optional(
      z
        .array(ReleaseComponentRequest, { error: 'components: a list of components' })
        .check(
          z.minLength(1, 'components: at least one component'),
          z.maxLength(MAX_COMPONENTS, `components: at most ${MAX_COMPONENTS}`),
        ),
    ),
    downloadLimits: z.optional(
      z.record(
        z.string().check(z.regex(LABEL_PATTERN, 'downloadLimits: keys are hardware types')),
        z.pipe(
          DownloadLimits,
          z
            .custom<DownloadLimits>()
            .check(
              z.refine(
                (limits) => Object.keys(limits).length > 0,
                'give minBytesPerSecond, maxSeconds or both',
              ),
            ),
        ),
      ),
    ),
    notes: z.optional(z.string().check(z.maxLength(2000, 'notes: at most 2000 characters'))),
  })
  .check(
    z.refine((body) => body.artifacts !== undefined || body.components !== undefined, {
      message: 'artifacts is required: a list of artifact ids (or components, for a multi-component release)',
      path: ['artifacts'],
    }),
    z.refine((body) => body.artifacts === undefined || body.components === undefined, {
      message: 'give artifacts or components, not both',
      path: ['components'],
    }),
    z.refine((body) => body.artifacts === undefined || body.downloadLimits === undefined, {
      message: 'downloadLimits need components (a release of artifacts alone has none)',
      path: ['downloadLimits'],
    }),
  );
export type CreateReleaseRequest = z.infer<typeof CreateReleaseRequest>;

/** The parsed body as the use case takes it. */
export function releaseRequestOf(body: CreateReleaseRequest): ReleaseRequest {
  const common = { version: body.version, ...(body.notes === undefined ? {} : { notes: body.notes }) };
  if (body.components === undefined) return { ...common, artifactIds: body.artifacts ?? [] };
  return {
    ...common,
    components: body.components.map((c) => ({
      name: c.name,
      handler: c.handler,
      ...(c.settings === undefined ? {} : { settings: c.settings }),
      artifactIds: c.artifacts,
    })),
    ...(body.downloadLimits === undefined ? {} : { downloadLimits: body.downloadLimits }),
  };
}

/**
 * Path of `/releases/{releaseId}`. Release ids may hold `+` (from the version), which clients
 * send percent-encoded; decode it whether or not the gateway already has.
 */
export const ReleasePath = z.object({
  // zod/mini has no preprocess; classic zod's is this same pipe from a transform.
  releaseId: z.pipe(
    z.transform((value: unknown) =>
      typeof value === 'string' && value.includes('%') ? safeDecode(value) : value,
    ),
    z.string().check(z.regex(RELEASE_ID_PATTERN, 'releaseId: rel- and a version')),
  ),
});

/** Query of `GET /releases`. */
export const ListReleasesQuery = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 25),
  cursor: z.optional(z.string().check(z.maxLength(2048))),
});

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
