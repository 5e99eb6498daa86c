import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { type DeltaCodec, EDGD_V1, ZSTD_PATCH_FROM } from '../../contract/delta-codecs';
import { applyEdgdDelta, bytesBase, bytesPatch } from '../../contract/delta-edgd-apply';
import { createEdgdDeltaWithIndex } from '../../contract/delta-edgd-create';
import { suffixArray } from '../../contract/delta-suffix-array';
import { applyDelta, createDelta, patchStream } from '../../contract/zstd-delta';
import { measure } from '../domain/artifact';
import {
  type Delta,
  DeltaInputMismatchError,
  type DeltaPatch,
  MAX_DELTA_INPUT_BYTES,
  MAX_EDGD_INPUT_BYTES,
  patchKeyFor,
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
  /**
   * Where the zstd patch goes: `deltaKey(releaseId, hardwareType, component, base.sha256)`; an
   * EDGD patch goes beside it (`patchKeyFor`).
   */
  readonly deltaKey: string;
  /** How many of the rollout's devices run the base (for the logs). */
  readonly deviceCount: number;
  /** The codecs to try (planDeltas). @default zstd only, as builds planned before codecs */
  readonly codecs?: readonly DeltaCodec[];
  /** Devices on the base that apply only zstd. @default deviceCount */
  readonly zstdOnlyDevices?: number;
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
 * 3. makes a patch in each codec asked for (EDGD first: its suffix array of the base is made
 *    before the image is read, and dropped before zstd builds its own tables);
 * 4. applies each patch to the base and keeps only those that rebuild exactly the image (SHA-256
 *    and size): a device must never get a patch that cannot work;
 * 5. keeps the smallest valid patch, and the zstd one too when it is not the smallest and
 *    devices on the base apply only zstd; a patch of NOT_WORTH_IT_RATIO of the image or more is
 *    not kept, and a delta none of whose patches is kept is recorded `not-worth-it`;
 * 6. writes the kept patches under `deltas/`, then the record naming those object versions and
 *    the codec of each. A crash between the two leaves unrecorded objects, which the next build
 *    overwrites.
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
    const candidates = await makePatches(storage, request, base);
    const valid: Candidate[] = [];
    for (const candidate of candidates) {
      if (!worthSending(candidate.patch.byteLength, request.image.size)) continue;
      const rebuilt = await rebuild(candidate, base);
      if (rebuilt.sha256 === request.image.sha256 && rebuilt.size === request.image.size)
        valid.push(candidate);
      else
        console.warn(
          `The ${candidate.codec} patch for ${request.deltaKey} rebuilds ${rebuilt.sha256} (${rebuilt.size} bytes), not the image; dropped`,
        );
    }
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
    const smallest = [...valid].sort((a, b) => a.patch.byteLength - b.patch.byteLength)[0];
    if (!smallest) {
      const worthy = candidates.filter((c) => worthSending(c.patch.byteLength, request.image.size));
      // Patches small enough to send that all fail to rebuild the image are a bug, not a size.
      if (worthy.length > 0)
        throw new Error(
          `No patch for ${request.deltaKey} rebuilds the image (${worthy.map((c) => c.codec).join(', ')})`,
        );
      delta = {
        ...record,
        status: 'not-worth-it',
        size: Math.min(...candidates.map((c) => c.patch.byteLength)),
        createdAt: clock.now().toISOString(),
      };
    } else {
      const zstdOnly = request.zstdOnlyDevices ?? request.deviceCount;
      const zstd = valid.find((c) => c.codec === ZSTD_PATCH_FROM);
      const keepZstd = smallest.codec !== ZSTD_PATCH_FROM && zstdOnly > 0 && zstd !== undefined;
      const main = await store(storage, request.deltaKey, smallest);
      delta = {
        ...record,
        status: 'ready',
        s3Key: main.s3Key,
        ...(main.s3VersionId === undefined ? {} : { s3VersionId: main.s3VersionId }),
        size: main.size,
        sha256: main.sha256,
        ...(main.codec === ZSTD_PATCH_FROM ? {} : { codec: main.codec }),
        ...(keepZstd && zstd ? { zstdPatch: await store(storage, request.deltaKey, zstd) } : {}),
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

interface Candidate {
  readonly codec: DeltaCodec;
  readonly patch: Buffer;
}

/**
 * Reads the image and makes a patch in each codec asked for that the images' sizes allow; the
 * image and the suffix array are no longer referenced once this returns.
 */
async function makePatches(storage: ArtifactStorage, request: DeltaBuildRequest, base: Buffer) {
  const codecs = request.codecs ?? [ZSTD_PATCH_FROM];
  const largest = Math.max(request.base.size, request.image.size);
  const candidates: Candidate[] = [];
  let index: Int32Array | undefined =
    codecs.includes(EDGD_V1) && largest <= MAX_EDGD_INPUT_BYTES ? suffixArray(base) : undefined;
  const image = await readVerified(storage, request.image, 'image');
  if (index) {
    candidates.push({ codec: EDGD_V1, patch: await createEdgdDeltaWithIndex(base, index, image) });
    index = undefined;
  }
  if (codecs.includes(ZSTD_PATCH_FROM) && largest <= MAX_DELTA_INPUT_BYTES)
    candidates.push({ codec: ZSTD_PATCH_FROM, patch: await createDelta(base, image) });
  if (candidates.length === 0)
    throw new Error(`No codec asked for (${codecs.join(', ')}) takes images of ${largest} bytes`);
  return candidates;
}

/** What a patch rebuilds from the base, measured as it streams out. */
async function rebuild(candidate: Candidate, base: Buffer) {
  return candidate.codec === EDGD_V1
    ? measure(Readable.from(applyEdgdDelta(bytesBase(base), bytesPatch(candidate.patch))))
    : measure(applyDelta(base, patchStream(candidate.patch)));
}

/** Writes a kept patch to its codec's key. */
async function store(storage: ArtifactStorage, zstdKey: string, candidate: Candidate): Promise<DeltaPatch> {
  const s3Key = patchKeyFor(zstdKey, candidate.codec);
  const { versionId } = await storage.putObject(s3Key, candidate.patch);
  return {
    codec: candidate.codec,
    s3Key,
    ...(versionId === undefined ? {} : { s3VersionId: versionId }),
    size: candidate.patch.byteLength,
    sha256: sha256Of(candidate.patch),
  };
}

async function readVerified(storage: ArtifactStorage, expected: StoredImage, what: 'base' | 'image') {
  const bytes = await storage.readBytes(
    expected.key,
    expected.versionId,
    Math.max(MAX_DELTA_INPUT_BYTES, MAX_EDGD_INPUT_BYTES),
  );
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
