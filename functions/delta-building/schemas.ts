import { COMPONENT_NAME } from '../../contract/ota-names';
import * as z from '../../contract/zod-mini';
import { deltaKey } from '../domain/delta';
import { RELEASE_ID_PATTERN, RELEASE_VERSION_PATTERN } from '../domain/release';

const sha256 = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'lowercase hex SHA-256'));
const size = z.number().check(z.int(), z.positive());
/** Bases and images are released artifacts: the builder reads nothing outside `artifacts/`. */
const image = z.strictObject({
  key: z.string().check(z.regex(/^artifacts\/[^/]+$/, 'an artifact key')),
  versionId: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
  sha256,
  size,
});
const releaseId = z.string().check(z.regex(RELEASE_ID_PATTERN, 'not a release id'));
const version = z.string().check(z.regex(RELEASE_VERSION_PATTERN, 'not a release version'));

/**
 * What the rollout state machine's delta Map invokes the builder with (V1): one build of the
 * `plan-deltas` step's output, and the rollout it is for (for the logs). The patch can only go
 * to the key its release, hardware type, component and base name.
 */
export const BuildDeltaEventV1 = z.strictObject({
  schema: z.literal('edgeops.build-delta.v1'),
  rolloutId: z.string().check(z.regex(/^ro-[0-9a-f]{12}$/, 'not a rollout id')),
  build: z
    .strictObject({
      releaseId,
      version,
      hardwareType: z.string().check(z.minLength(1), z.maxLength(64)),
      component: z.string().check(z.regex(COMPONENT_NAME, 'not a component name')),
      base: z.extend(image, { releaseId, version }),
      image,
      deltaKey: z.string().check(z.minLength(1), z.maxLength(1024)),
      deviceCount: z.number().check(z.int(), z.positive()),
    })
    .check(
      z.refine((b) => b.deltaKey === deltaKey(b.releaseId, b.hardwareType, b.component, b.base.sha256), {
        message: 'deltaKey must be deltas/<releaseId>/<hardwareType>/<component>/<base sha256>.zst',
        path: ['deltaKey'],
      }),
    ),
});
export type BuildDeltaEventV1 = z.infer<typeof BuildDeltaEventV1>;
