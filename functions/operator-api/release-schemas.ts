import * as z from '../../contract/zod-mini';
import {
  ARTIFACT_ID_PATTERN,
  ARTIFACT_KINDS,
  MAX_ARTIFACT_SIZE,
  MAX_PARTS,
  VERSION_PATTERN,
} from '../domain/artifact';
import { LABEL_PATTERN } from '../domain/device';
import { RELEASE_ID_PATTERN, RELEASE_VERSION_PATTERN } from '../domain/release';

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

/** Body of `POST /releases`. */
export const CreateReleaseRequest = z.strictObject({
  version: z
    .string({ error: 'version is required' })
    .check(z.regex(RELEASE_VERSION_PATTERN, 'version: 1-60 of letters, digits and . + _ -')),
  // At most 16: one OTA job document carries at most 16 artifacts (contract/ota.ts).
  artifacts: z
    .array(artifactId('artifact id'), { error: 'artifacts is required: a list of artifact ids' })
    .check(z.minLength(1, 'artifacts: at least one artifact'), z.maxLength(16, 'artifacts: at most 16')),
  notes: z.optional(z.string().check(z.maxLength(2000, 'notes: at most 2000 characters'))),
});

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
