/**
 * Before a device downloads anything, it verifies the release with TUF (tuf-js): the root it was
 * given at registration (or a newer one chained from it), then timestamp → snapshot → targets,
 * each signed by the keys the root names, none expired, none older than what it saw before. Only
 * then does it read the signed facts of the target the job document points at, and it refuses:
 *
 * - `signature-invalid`, `metadata-expired`, `metadata-rollback`, `metadata-too-long`,
 *   `metadata-unavailable`: the chain does not verify;
 * - `target-not-signed`: the job names a target the signed metadata does not list;
 * - `release-mismatch`: the signed target belongs to another release than the job names;
 * - `wrong-hardware-type`: the signed target is for another hardware type;
 * - `downgrade-refused`: an older version than the one running, without a rollback the operator
 *   signed for this very rollout (still valid).
 *
 * The job document is untrusted transport: it only says where files are. Hashes and lengths of
 * what the device installs come from here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BaseFetcher, Updater } from 'tuf-js';
import {
  BadVersionError,
  DownloadError,
  DownloadHTTPError,
  DownloadLengthMismatchError,
  ExpiredMetadataError,
} from 'tuf-js/dist/error.js';
import {
  deltaTargetPath,
  imageTargetPath,
  type JobDocumentV2,
  rollbackTargetPath,
  SignedTargetFacts,
} from '../../contract/ota';
import { compareVersions } from '../../contract/version-order';
import { localAwsHeaders } from './artifact-download';
import { ioTimeoutMs } from './io-timeouts';

/** A target as the verified targets metadata signs it, and where the job says to fetch it. */
export interface SignedTarget {
  readonly path: string;
  readonly url: string;
  readonly length: number;
  readonly sha256: string;
  readonly facts: SignedTargetFacts;
}

export type ReleaseVerdict =
  | { readonly ok: true; readonly image: SignedTarget; readonly delta?: SignedTarget }
  | { readonly ok: false; readonly reason: string };

export interface VerifyReleaseRequest {
  /** Holds `root.json` (the trusted root) and tuf-js's cache of the newest verified metadata. */
  readonly trustDir: string;
  readonly document: JobDocumentV2;
  readonly hardwareType: string;
  readonly runningVersion: string;
  /** SHA-256 of the image in the active slot, to pick a delta built from it. */
  readonly activeImageSha256?: string;
  readonly now: Date;
  readonly log: (line: string) => void;
  /** How long one metadata file may take on a real device. @default METADATA_FETCH_TIMEOUT_MS */
  readonly metadataFetchTimeoutMs?: number;
  /** The device's time factor: below 1 (a simulated fleet) that timeout grows (`ioTimeoutMs`). @default 1 */
  readonly timeFactor?: number;
}

/** How long one metadata file may take to arrive, on a real device. */
export const METADATA_FETCH_TIMEOUT_MS = 30_000;

/** Writes the root a device receives at registration; later roots chain from it. */
export async function installTrustRoot(trustDir: string, root: unknown): Promise<void> {
  await mkdir(trustDir, { recursive: true });
  await writeFile(join(trustDir, 'root.json'), JSON.stringify(root));
}

export async function verifyRelease(request: VerifyReleaseRequest): Promise<ReleaseVerdict> {
  const { document, hardwareType } = request;
  const entry = document.artifacts.find((a) => a.hardwareType === hardwareType);
  if (!entry) return refuse(`hardware-type-mismatch: no artifact for ${hardwareType}`);

  let updater: Updater;
  const fetcher = new JobDocumentFetcher(
    document.trust.metadata,
    ioTimeoutMs(request.metadataFetchTimeoutMs ?? METADATA_FETCH_TIMEOUT_MS, request.timeFactor),
  );
  try {
    updater = new Updater({
      metadataDir: request.trustDir,
      metadataBaseUrl: METADATA_BASE,
      fetcher,
      config: { maxRootRotations: 64, fetchRetries: 2 },
    });
    await updater.refresh();
  } catch (error) {
    return refuse(chainFailure(unwrapFetchFailure(error, fetcher.lastFailure)));
  }

  const image = await signedTarget(updater, entry.target, entry.url);
  if (!image.ok) return image;
  const facts = image.target.facts;
  if (facts.kind !== 'image')
    return refuse(`target-not-signed: ${entry.target} is a ${facts.kind}, not an image`);
  if (facts.hardwareType !== hardwareType)
    return refuse(
      `wrong-hardware-type: ${entry.target} is signed for ${facts.hardwareType}, this device is ${hardwareType}`,
    );
  if (facts.releaseId !== document.release.releaseId || facts.version !== document.release.version)
    return refuse(
      `release-mismatch: the job names ${document.release.releaseId} (${document.release.version}), ` +
        `the signed target ${entry.target} is ${facts.releaseId} (${facts.version})`,
    );
  const rollback = rollbackAllowed(document, facts, entry.target, request.now);
  if (document.operation === 'rollback' && !rollback.ok) return refuse(rollback.reason);
  const expectedPath =
    document.operation === 'rollback'
      ? rollbackTargetPath(document.rolloutId, hardwareType)
      : imageTargetPath(facts.releaseId, hardwareType);
  if (entry.target !== expectedPath)
    return refuse(
      `release-mismatch: ${document.operation} of ${facts.releaseId} must use target ${expectedPath}`,
    );
  if (compareVersions(facts.version, request.runningVersion) < 0 && !rollback.ok)
    return refuse(`downgrade-refused: ${facts.version} is older than the running ${request.runningVersion}`);

  const delta = await usableDelta(updater, request, entry, image.target);
  return delta ? { ok: true, image: image.target, delta } : { ok: true, image: image.target };
}

const METADATA_BASE = 'https://metadata.edgeops.invalid/tuf';

const refuse = (reason: string) => ({ ok: false as const, reason: reason.slice(0, 256) });

function rollbackAllowed(
  document: JobDocumentV2,
  facts: SignedTargetFacts,
  path: string,
  now: Date,
): { ok: true } | { ok: false; reason: string } {
  const signed = facts.rollback;
  if (document.operation !== 'rollback' || !signed)
    return { ok: false, reason: `downgrade-refused: ${path} is not a signed rollback` };
  if (signed.rolloutId !== document.rolloutId)
    return { ok: false, reason: `downgrade-refused: ${path} is signed for rollout ${signed.rolloutId}` };
  if (Date.parse(signed.notAfter) < now.getTime())
    return { ok: false, reason: `downgrade-refused: the signed rollback ended ${signed.notAfter}` };
  return { ok: true };
}

async function signedTarget(
  updater: Updater,
  path: string,
  url: string,
): Promise<{ ok: true; target: SignedTarget } | { ok: false; reason: string }> {
  const info = await updater.getTargetInfo(path).catch(() => undefined);
  if (!info) return refuse(`target-not-signed: ${path}`);
  const facts = SignedTargetFacts.safeParse((info.custom as { edgeops?: unknown }).edgeops);
  const sha256 = info.hashes.sha256;
  if (!facts.success || !sha256) return refuse(`target-not-signed: ${path} has no EdgeOps facts or SHA-256`);
  return { ok: true, target: { path, url, length: info.length, sha256, facts: facts.data } };
}

/** The delta built from the active slot's image, if the job offers one and it is signed as such. */
async function usableDelta(
  updater: Updater,
  request: VerifyReleaseRequest,
  entry: JobDocumentV2['artifacts'][number],
  image: SignedTarget,
): Promise<SignedTarget | undefined> {
  const base = request.activeImageSha256;
  const offered = base ? entry.deltas.find((d) => d.baseSha256 === base) : undefined;
  if (!base || !offered) return undefined;
  const expected = deltaTargetPath(image.facts.releaseId, request.hardwareType, base);
  const delta = await signedTarget(updater, offered.target, offered.url);
  const facts = delta.ok ? delta.target.facts : undefined;
  if (
    !delta.ok ||
    offered.target !== expected ||
    facts?.kind !== 'delta' ||
    facts.base?.sha256 !== base ||
    facts.image?.sha256 !== image.sha256 ||
    facts.image.length !== image.length
  ) {
    request.log(
      `delta ${offered.target} is not a signed delta from ${base} to this image; taking the full image`,
    );
    return undefined;
  }
  return delta.target;
}

/**
 * tuf-js turns a failed snapshot or targets download into a RuntimeError that keeps only the
 * text of what failed; the fetcher's own error (a timeout, a length) says what it was.
 */
function unwrapFetchFailure(error: unknown, fetchFailure: unknown): unknown {
  if (!(error instanceof Error) || !(fetchFailure instanceof Error) || error === fetchFailure) return error;
  return error.message.endsWith(String(fetchFailure)) ? fetchFailure : error;
}

function chainFailure(error: unknown): string {
  const message = (error as Error).message ?? String(error);
  const name = (error as Error).constructor?.name ?? '';
  if (error instanceof MetadataTimeoutError) return `metadata-unavailable: ${message}`;
  if (error instanceof ExpiredMetadataError) return `metadata-expired: ${message}`;
  if (error instanceof BadVersionError) return `metadata-rollback: ${message}`;
  if (error instanceof DownloadLengthMismatchError) return `metadata-too-long: ${message}`;
  if (error instanceof DownloadHTTPError) return `metadata-unavailable: ${message}`;
  if (name === 'UnsignedMetadataError' || /signature|threshold|signed by \d+\/\d+ keys/i.test(message))
    return `signature-invalid: ${message}`;
  return `metadata-invalid: ${name ? `${name}: ` : ''}${message}`;
}

/**
 * tuf-js asks for `<base>/<file>`; the job document has one presigned URL per file name. A name
 * the document does not carry is a 404, which for `N.root.json` means "no newer root".
 *
 * `timeoutMs` is the deadline for one file, from the request to the last byte of its body: a
 * server that never answers, or answers and then trickles (or never ends), is cut off there, and
 * the file is `metadata-unavailable: timeout: …` (tried again by the updater, like any fetch that
 * broke off). Within it, a connection that is refused, reset or not made (fetch's own connect
 * timeout is a fixed 10 s) is tried again after a short pause: a GET is safe to repeat, and
 * tuf-js's own `fetchRetries` applies only to its default fetcher.
 *
 * Endless data: tuf-js stops reading a file at its length limit (the length the snapshot or
 * timestamp signs, else `rootMaxLength` 512 kB, `timestampMaxLength` 16 kB, `snapshotMaxLength`
 * 2 MB, `targetsMaxLength` 5 MB): `metadata-too-long`. It does not cancel the body then; this
 * fetcher ends the connection as soon as tuf-js is done with a file, whatever the outcome.
 */
export class JobDocumentFetcher extends BaseFetcher {
  #file: { readonly deadline: AbortSignal; readonly done: AbortController } | undefined;
  /** What the last file that failed failed with. */
  lastFailure: unknown;

  constructor(
    private readonly urls: Record<string, string>,
    readonly timeoutMs: number = METADATA_FETCH_TIMEOUT_MS,
    readonly maxConnectAttempts = 5,
  ) {
    super();
  }

  override async downloadFile<T>(
    url: string,
    maxLength: number,
    handler: (file: string) => Promise<T>,
  ): Promise<T> {
    const file = { deadline: AbortSignal.timeout(this.timeoutMs), done: new AbortController() };
    this.#file = file;
    try {
      return await super.downloadFile(url, maxLength, handler);
    } catch (error) {
      // tuf-js's own errors (HTTP status, length) say more than the deadline that followed them.
      this.lastFailure =
        file.deadline.aborted && !(error instanceof DownloadError)
          ? new MetadataTimeoutError(
              `timeout: ${url.slice(url.lastIndexOf('/') + 1)} not received within ${this.timeoutMs} ms`,
            )
          : error;
      throw this.lastFailure;
    } finally {
      if (this.#file === file) this.#file = undefined;
      file.done.abort();
    }
  }

  override async fetch(url: string): Promise<ReadableStream<Uint8Array<ArrayBuffer>>> {
    const name = url.slice(url.lastIndexOf('/') + 1);
    const target = this.urls[name];
    if (!target) throw new DownloadHTTPError(`${name} is not in the job document`, 404);
    const file = this.#file;
    const deadline = file?.deadline ?? AbortSignal.timeout(this.timeoutMs);
    const signal = file ? AbortSignal.any([deadline, file.done.signal]) : deadline;
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(target, { headers: localAwsHeaders(new URL(target)), signal });
      } catch (error) {
        // fetch rejects with a TypeError when no connection or answer came; an abort is the deadline.
        if (signal.aborted || !(error instanceof TypeError) || attempt >= this.maxConnectAttempts)
          throw error;
        await sleep(Math.random() * Math.min(2_000, 100 * 2 ** attempt), undefined, { signal });
        continue;
      }
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new DownloadHTTPError(`GET ${name}: HTTP ${response.status}`, response.status);
      }
      return response.body as ReadableStream<Uint8Array<ArrayBuffer>>;
    }
  }
}

/** A metadata file that did not arrive whole within its deadline. */
export class MetadataTimeoutError extends Error {
  override readonly name = 'MetadataTimeoutError';
}
