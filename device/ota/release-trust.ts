/**
 * Before a device downloads anything, it verifies the release with TUF (tuf-js): the root it was
 * given at registration (or a newer one chained from it), then timestamp → snapshot → targets,
 * each signed by the keys the root names, none expired, none older than what it saw before. Only
 * then does it read the signed facts of every target the job document names for its hardware
 * type (one image for a v2 document; one per component for v3), and it refuses:
 *
 * - `signature-invalid`, `metadata-expired`, `metadata-rollback`, `metadata-too-long`,
 *   `metadata-unavailable`: the chain does not verify;
 * - `target-not-signed`: the job names a target the signed metadata does not list;
 * - `release-mismatch`: a signed target belongs to another release than the job names, or is
 *   not at the path the release's (or rollback's) target has;
 * - `wrong-hardware-type`: a signed target is for another hardware type;
 * - `downgrade-refused`: an older version than the one running, without a rollback the operator
 *   signed for this very rollout (still valid);
 * - `component-mismatch` (v3): a target without signed component facts, or signed as another
 *   component than the job names; `component-order-mismatch` (v3): the job lists components in
 *   another order than the signed install order.
 *
 * The job document is untrusted transport: it only says where files are. Hashes, lengths, and
 * what each component is (handler, order, version, settings) come from here.
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
  componentTargetPaths,
  deltaTargetPath,
  FIRMWARE_COMPONENT,
  imageTargetPath,
  type JobDocument,
  type JobDocumentV2,
  ROOTFS_HANDLER,
  rollbackTargetPath,
  SignedTargetFacts,
} from '../../contract/ota';
import { compareVersions } from '../../contract/version-order';
import { localAwsHeaders } from './artifact-download';
import { ioTimeoutMs } from './io-timeouts';
import { type ComponentOffer, offersFor } from './job-document';

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

/** One component of a verified release: what the signed metadata says it is, and its targets. */
export interface VerifiedComponent {
  readonly name: string;
  /** The handler that installs it (v2: `rootfs`, the device's own image). */
  readonly handler: string;
  /** Its place in the install order (v2: 0). */
  readonly order: number;
  /** Its own version (v2: the release's). */
  readonly version: string;
  /** What its handler reads (v2: none). */
  readonly settings: Readonly<Record<string, string>>;
  readonly image: SignedTarget;
  /** A signed delta from the image the device keeps for this component, if the job offers one. */
  readonly delta?: SignedTarget;
}

export type ComponentsVerdict =
  | { readonly ok: true; readonly components: readonly VerifiedComponent[] }
  | { readonly ok: false; readonly reason: string };

interface TrustRequest {
  /** Holds `root.json` (the trusted root) and tuf-js's cache of the newest verified metadata. */
  readonly trustDir: string;
  readonly hardwareType: string;
  readonly runningVersion: string;
  readonly now: Date;
  readonly log: (line: string) => void;
  /** How long one metadata file may take on a real device. @default METADATA_FETCH_TIMEOUT_MS */
  readonly metadataFetchTimeoutMs?: number;
  /** The device's time factor: below 1 (a simulated fleet) that timeout grows (`ioTimeoutMs`). @default 1 */
  readonly timeFactor?: number;
}

export interface VerifyReleaseRequest extends TrustRequest {
  readonly document: JobDocumentV2;
  /** SHA-256 of the image in the active slot, to pick a delta built from it. */
  readonly activeImageSha256?: string;
}

export interface VerifyComponentsRequest extends TrustRequest {
  readonly document: JobDocument;
  /**
   * SHA-256 of the image the device keeps of a component (for the A/B slots: the active slot's
   * image), to pick a delta built from it; undefined: the component comes in full.
   */
  readonly baseImageSha256?: (component: { name: string; handler: string }) => string | undefined;
}

/** How long one metadata file may take to arrive, on a real device. */
export const METADATA_FETCH_TIMEOUT_MS = 30_000;

/** Writes the root a device receives at registration; later roots chain from it. */
export async function installTrustRoot(trustDir: string, root: unknown): Promise<void> {
  await mkdir(trustDir, { recursive: true });
  await writeFile(join(trustDir, 'root.json'), JSON.stringify(root));
}

/** A single-image (v2) release: its image and the delta from the active slot's image, if any. */
export async function verifyRelease(request: VerifyReleaseRequest): Promise<ReleaseVerdict> {
  const { activeImageSha256, ...rest } = request;
  const verdict = await verifyComponents({
    ...rest,
    ...(activeImageSha256 ? { baseImageSha256: () => activeImageSha256 } : {}),
  });
  if (!verdict.ok) return verdict;
  const [firmware] = verdict.components;
  if (!firmware) return refuse(`hardware-type-mismatch: no artifact for ${request.hardwareType}`);
  return firmware.delta
    ? { ok: true, image: firmware.image, delta: firmware.delta }
    : { ok: true, image: firmware.image };
}

/**
 * Every component the document offers this device's hardware type, each checked against its
 * signed facts as a single image always was (kind, hardware type, release, path, downgrade), and
 * for v3 also against its signed component facts (name, order). In the document's order, which
 * for v3 is then the signed install order.
 */
export async function verifyComponents(request: VerifyComponentsRequest): Promise<ComponentsVerdict> {
  const { document, hardwareType } = request;
  const { offers } = offersFor(document, hardwareType);
  if (offers.length === 0) return refuse(`hardware-type-mismatch: no artifact for ${hardwareType}`);

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

  const components: VerifiedComponent[] = [];
  for (const offer of offers) {
    const verified = await verifyComponent(updater, request, offer);
    if (!verified.ok) return verified;
    const previous = components.at(-1);
    if (previous && verified.component.order <= previous.order)
      return refuse(
        `component-order-mismatch: the job lists ${previous.name} before ${offer.name}, ` +
          `signed install order ${previous.order} and ${verified.component.order}`,
      );
    components.push(verified.component);
  }
  return { ok: true, components };
}

const METADATA_BASE = 'https://metadata.edgeops.invalid/tuf';

const refuse = (reason: string) => ({ ok: false as const, reason: reason.slice(0, 256) });

/** The target paths a component's image, delta and rollback must have: v2 paths, or v3's per component. */
function pathsOf(document: JobDocument, component: string) {
  return document.schema === 'edgeops.ota.v2'
    ? { image: imageTargetPath, delta: deltaTargetPath, rollback: rollbackTargetPath }
    : componentTargetPaths(component);
}

async function verifyComponent(
  updater: Updater,
  request: VerifyComponentsRequest,
  offer: ComponentOffer,
): Promise<{ ok: true; component: VerifiedComponent } | { ok: false; reason: string }> {
  const { document, hardwareType } = request;
  const image = await signedTarget(updater, offer.target, offer.url);
  if (!image.ok) return image;
  const facts = image.target.facts;
  if (facts.kind !== 'image')
    return refuse(`target-not-signed: ${offer.target} is a ${facts.kind}, not an image`);
  if (facts.hardwareType !== hardwareType)
    return refuse(
      `wrong-hardware-type: ${offer.target} is signed for ${facts.hardwareType}, this device is ${hardwareType}`,
    );
  if (facts.releaseId !== document.release.releaseId || facts.version !== document.release.version)
    return refuse(
      `release-mismatch: the job names ${document.release.releaseId} (${document.release.version}), ` +
        `the signed target ${offer.target} is ${facts.releaseId} (${facts.version})`,
    );
  const rollback = rollbackAllowed(document, facts, offer.target, request.now);
  if (document.operation === 'rollback' && !rollback.ok) return refuse(rollback.reason);
  const paths = pathsOf(document, offer.name);
  const expectedPath =
    document.operation === 'rollback'
      ? paths.rollback(document.rolloutId, hardwareType)
      : paths.image(facts.releaseId, hardwareType);
  if (offer.target !== expectedPath)
    return refuse(
      `release-mismatch: ${document.operation} of ${facts.releaseId} must use target ${expectedPath}`,
    );
  if (compareVersions(facts.version, request.runningVersion) < 0 && !rollback.ok)
    return refuse(`downgrade-refused: ${facts.version} is older than the running ${request.runningVersion}`);

  let described: Omit<VerifiedComponent, 'image' | 'delta'>;
  if (document.schema === 'edgeops.ota.v2') {
    described = {
      name: FIRMWARE_COMPONENT,
      handler: ROOTFS_HANDLER,
      order: 0,
      version: facts.version,
      settings: {},
    };
  } else {
    const signed = facts.component;
    if (!signed) return refuse(`component-mismatch: ${offer.target} has no signed component facts`);
    if (signed.name !== offer.name)
      return refuse(
        `component-mismatch: ${offer.target} is signed as component ${signed.name}, the job names ${offer.name}`,
      );
    described = {
      name: signed.name,
      handler: signed.handler,
      order: signed.order,
      version: signed.version,
      settings: signed.settings,
    };
  }
  const base = request.baseImageSha256?.({ name: described.name, handler: described.handler });
  const delta = await usableDelta(updater, request, offer, paths, image.target, base);
  return {
    ok: true,
    component: { ...described, image: image.target, ...(delta ? { delta } : {}) },
  };
}

function rollbackAllowed(
  document: JobDocument,
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

/** The delta built from `base` (the image the device keeps), if the job offers one and it is signed as such. */
async function usableDelta(
  updater: Updater,
  request: VerifyComponentsRequest,
  offer: ComponentOffer,
  paths: ReturnType<typeof pathsOf>,
  image: SignedTarget,
  base: string | undefined,
): Promise<SignedTarget | undefined> {
  const offered = base ? offer.deltas.find((d) => d.baseSha256 === base) : undefined;
  if (!base || !offered) return undefined;
  const expected = paths.delta(image.facts.releaseId, request.hardwareType, base);
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
