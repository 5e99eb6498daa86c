import { z } from 'zod';
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
  z.string({ error: `${what} is required` }).regex(ARTIFACT_ID_PATTERN, `${what}: not an artifact id`);

/** A file name or short label for people; it never becomes part of a key or path. */
const ARTIFACT_NAME_PATTERN = /^[\w .+()@-]{1,128}$/;

/** Body of `POST /artifacts`. */
export const CreateArtifactRequest = z.strictObject({
  kind: z.enum(ARTIFACT_KINDS, { error: `kind: one of ${ARTIFACT_KINDS.join(', ')}` }),
  hardwareType: z
    .string({ error: 'hardwareType is required' })
    .regex(LABEL_PATTERN, 'hardwareType: 1-64 of letters, digits and _ . @ / : # = -'),
  version: z
    .string({ error: 'version is required' })
    .regex(VERSION_PATTERN, 'version: 1-64 of letters, digits and . + _ -'),
  size: z
    .number({ error: 'size is required: the file size in bytes' })
    .int('size: a whole number of bytes')
    .positive('size: at least 1 byte')
    .max(MAX_ARTIFACT_SIZE, `size: at most ${MAX_ARTIFACT_SIZE} bytes (20 GiB)`),
  name: z
    .string()
    .regex(ARTIFACT_NAME_PATTERN, 'name: 1-128 of letters, digits, spaces and _ . + ( ) @ -')
    .optional(),
});

/** Path of `/artifacts/{artifactId}` routes. */
export const ArtifactPath = z.object({ artifactId: artifactId('artifactId') });

/** Body of `POST /artifacts/{artifactId}/complete`: the parts of a multipart upload, or nothing. */
export const CompleteArtifactRequest = z
  .strictObject({
    parts: z
      .array(
        z.strictObject({
          partNumber: z.number({ error: 'partNumber is required' }).int().min(1).max(MAX_PARTS),
          /** The ETag header S3 answered the part's PUT with. */
          etag: z.string({ error: 'etag is required' }).min(1).max(128),
        }),
      )
      .min(1)
      .max(MAX_PARTS)
      .optional(),
  })
  .optional();

/** Body of `POST /releases`. */
export const CreateReleaseRequest = z.strictObject({
  version: z
    .string({ error: 'version is required' })
    .regex(RELEASE_VERSION_PATTERN, 'version: 1-60 of letters, digits and . + _ -'),
  // At most 16: one OTA job document carries at most 16 artifacts (ota-contract.ts).
  artifacts: z
    .array(artifactId('artifact id'), { error: 'artifacts is required: a list of artifact ids' })
    .min(1, 'artifacts: at least one artifact')
    .max(16, 'artifacts: at most 16'),
  notes: z.string().max(2000, 'notes: at most 2000 characters').optional(),
});

/**
 * Path of `/releases/{releaseId}`. Release ids may hold `+` (from the version), which clients
 * send percent-encoded; decode it whether or not the gateway already has.
 */
export const ReleasePath = z.object({
  releaseId: z.preprocess(
    (value) => (typeof value === 'string' && value.includes('%') ? safeDecode(value) : value),
    z.string().regex(RELEASE_ID_PATTERN, 'releaseId: rel- and a version'),
  ),
});

/** Query of `GET /releases`. */
export const ListReleasesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().max(2048).optional(),
});

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
