import { createHash } from 'node:crypto';
import { applyDelta, createDelta, patchStream } from '../../contract/zstd-delta';
import { measure } from '../domain/artifact';
import {
  type Delta,
  DeltaInputMismatchError,
  MAX_DELTA_INPUT_BYTES,
  type ReleasedImage,
  worthSending,
} from '../domain/delta';
import type { ArtifactStorage } from '../ports/artifact-storage';
import type { Clock } from '../ports/clock';
import type { DeltaStore } from '../ports/delta-store';

/** One object in the artifact bucket and what it must measure. */
export interface StoredImage {
  readonly key: string;
  /** The version the release pinned; without it the current version is read (and still checked). */
  readonly versionId?: string;
  readonly sha256: string;
  readonly size: number;
}

/** What the builder is asked to build (plan-deltas makes these; the builder Lambda parses them). */
export interface DeltaBuildRequest {
  readonly releaseId: string;
  readonly version: string;
  readonly hardwareType: string;
  /** The component both images are of. */
  readonly component: string;
  readonly base: StoredImage & { readonly releaseId: string; readonly version: string };
  readonly image: StoredImage;
  /** Where the patch goes: `deltaKey(releaseId, hardwareType, component, base.sha256)`. */
  readonly deltaKey: string;
  /** How many of the rollout's devices run the base (for the logs). */
  readonly deviceCount: number;
}

export type BuildDeltaOutcome =
  | { readonly outcome: 'built' | 'already-recorded'; readonly delta: Delta }
  | { readonly outcome: 'lost-race'; readonly delta: Delta | undefined };

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Builds one delta:
 * 1. a delta already recorded for (release, hardware type, component, base) is left alone;
 * 2. reads the base and the image (the object versions the releases pinned) and refuses, writing
 *    nothing, when either's SHA-256 or size is not what the release recorded;
 * 3. makes the patch; one of NOT_WORTH_IT_RATIO of the image or more is recorded `not-worth-it`
 *    and not stored;
 * 4. applies the patch to the base and checks that it rebuilds exactly the image (SHA-256 and
 *    size) before anything is stored: a device must never get a patch that cannot work;
 * 5. writes the patch under `deltas/`, then the record naming that object version. A crash
 *    between the two leaves an unrecorded object, which the next build overwrites.
 */
export const makeBuildDelta =
  (ports: { storage: ArtifactStorage; deltas: DeltaStore; clock: Clock }) =>
  async (request: DeltaBuildRequest): Promise<BuildDeltaOutcome> => {
    const { storage, deltas, clock } = ports;
    const recorded = await deltas.getDelta(
      request.releaseId,
      request.hardwareType,
      request.component,
      request.base.sha256,
    );
    if (recorded) return { outcome: 'already-recorded', delta: recorded };

    const base = await readVerified(storage, request.base, 'base');
    const patch = await makePatch(storage, request, base);
    const record = {
      releaseId: request.releaseId,
      hardwareType: request.hardwareType,
      component: request.component,
      baseSha256: request.base.sha256,
      baseSize: request.base.size,
      baseVersion: request.base.version,
      imageSha256: request.image.sha256,
      imageSize: request.image.size,
    };

    let delta: Delta;
    if (!worthSending(patch.byteLength, request.image.size)) {
      delta = {
        ...record,
        status: 'not-worth-it',
        size: patch.byteLength,
        createdAt: clock.now().toISOString(),
      };
    } else {
      const rebuilt = await measure(applyDelta(base, patchStream(patch)));
      if (rebuilt.sha256 !== request.image.sha256 || rebuilt.size !== request.image.size) {
        throw new Error(
          `The patch for ${request.deltaKey} rebuilds ${rebuilt.sha256} (${rebuilt.size} bytes), not the image`,
        );
      }
      const { versionId } = await storage.putObject(request.deltaKey, patch);
      delta = {
        ...record,
        status: 'ready',
        s3Key: request.deltaKey,
        ...(versionId === undefined ? {} : { s3VersionId: versionId }),
        size: patch.byteLength,
        sha256: sha256Of(patch),
        createdAt: clock.now().toISOString(),
      };
    }
    if (await deltas.putDelta(delta)) return { outcome: 'built', delta };
    // Another build of the same delta (a concurrent rollout of the release) recorded first.
    return {
      outcome: 'lost-race',
      delta: await deltas.getDelta(
        request.releaseId,
        request.hardwareType,
        request.component,
        request.base.sha256,
      ),
    };
  };

/** Reads the image and makes the patch; the image is no longer referenced once this returns. */
async function makePatch(storage: ArtifactStorage, request: DeltaBuildRequest, base: Buffer) {
  const image = await readVerified(storage, request.image, 'image');
  return createDelta(base, image);
}

async function readVerified(storage: ArtifactStorage, expected: StoredImage, what: 'base' | 'image') {
  const bytes = await storage.readBytes(expected.key, expected.versionId, MAX_DELTA_INPUT_BYTES);
  const found = bytes ? { sha256: sha256Of(bytes), size: bytes.byteLength } : undefined;
  if (!bytes || found?.sha256 !== expected.sha256 || found.size !== expected.size) {
    const measured = found ? `${found.sha256} (${found.size} bytes)` : 'nothing';
    throw new DeltaInputMismatchError(
      `The ${what} ${expected.key}${expected.versionId ? ` version ${expected.versionId}` : ''} is ${measured}, ` +
        `not ${expected.sha256} (${expected.size} bytes)`,
    );
  }
  return bytes;
}

/** A release image as the builder needs it. */
export const storedImage = (image: ReleasedImage): StoredImage => ({
  key: image.key,
  ...(image.versionId === undefined ? {} : { versionId: image.versionId }),
  sha256: image.sha256,
  size: image.size,
});
