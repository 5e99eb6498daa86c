/**
 * The job document, parsed at the edge: whatever the Jobs service hands over is checked against
 * `JobDocument` (v2 or v3; v1 and anything else are refused) before the device acts on it, and
 * normalized into the components offered to this device's hardware type, in the order the
 * document lists them:
 *
 * - v2 (a single-image release): one component, `firmware`, the image and its deltas;
 * - v3 (a multi-component release): the `components` of the hardware type's entry, and the
 *   entry's download limits.
 *
 * It is only transport: what each component is (handler, order, version, settings) and what the
 * device installs is then verified against the signed TUF metadata (release-trust.ts). A refusal
 * carries a reason the operator can read in the job's statusDetails and in the `failed` event.
 */
import { type DownloadLimits, FIRMWARE_COMPONENT, JobDocument } from '../../contract/ota';

/** A component as the document offers it: which target to look up, where to fetch its bytes. */
export interface ComponentOffer {
  readonly name: string;
  /** The TUF target path of the component's full image. */
  readonly target: string;
  readonly url: string;
  readonly deltas: readonly { readonly baseSha256: string; readonly target: string; readonly url: string }[];
}

export type JobDocumentCheck =
  | {
      readonly ok: true;
      readonly document: JobDocument;
      /** This device's components, in the document's order (v3: the install order it claims). */
      readonly offers: readonly ComponentOffer[];
      /** v3: the download limits of this device's hardware type, if the release sets them. */
      readonly downloadLimits?: DownloadLimits | undefined;
    }
  | { readonly ok: false; readonly reason: string; readonly rolloutId: string };

export interface JobDocumentPolicy {
  readonly hardwareType: string;
  /** Accept `http:` URLs (local simulations); signatures and hashes still guard the bytes. */
  readonly allowPlainHttp: boolean;
}

export function checkJobDocument(jobId: string, raw: unknown, policy: JobDocumentPolicy): JobDocumentCheck {
  let json = raw;
  if (typeof raw === 'string') {
    try {
      json = JSON.parse(raw);
    } catch {
      return {
        ok: false,
        reason: 'invalid-job-document: not JSON',
        rolloutId: rolloutIdOf(undefined, jobId),
      };
    }
  }
  const rolloutId = rolloutIdOf(json, jobId);
  const parsed = JobDocument.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    return { ok: false, reason: `invalid-job-document: ${issues}`, rolloutId };
  }
  const document = parsed.data;
  const hardwareTypes = document.artifacts.map((a) => a.hardwareType);
  const mine = hardwareTypes.filter((type) => type === policy.hardwareType);
  if (mine.length === 0)
    return {
      ok: false,
      reason: `hardware-type-mismatch: no artifact for ${policy.hardwareType} (job has ${hardwareTypes.join(', ')})`,
      rolloutId,
    };
  if (mine.length > 1)
    return {
      ok: false,
      reason: `invalid-job-document: artifacts: more than one for ${policy.hardwareType}`,
      rolloutId,
    };
  const { offers, downloadLimits } = offersFor(document, policy.hardwareType);
  const urls = [
    ...offers.flatMap((offer) => [offer.url, ...offer.deltas.map((d) => d.url)]),
    ...Object.values(document.trust.metadata),
  ];
  if (!policy.allowPlainHttp && urls.some((url) => new URL(url).protocol !== 'https:'))
    return { ok: false, reason: 'invalid-job-document: https required for every URL', rolloutId };
  return { ok: true, document, offers, ...(downloadLimits ? { downloadLimits } : {}) };
}

/** The components a (parsed) document offers `hardwareType`; none if it has no entry for it. */
export function offersFor(
  document: JobDocument,
  hardwareType: string,
): { offers: ComponentOffer[]; downloadLimits?: DownloadLimits | undefined } {
  if (document.schema === 'edgeops.ota.v2') {
    const entry = document.artifacts.find((a) => a.hardwareType === hardwareType);
    if (!entry) return { offers: [] };
    return {
      offers: [{ name: FIRMWARE_COMPONENT, target: entry.target, url: entry.url, deltas: entry.deltas }],
    };
  }
  const entry = document.artifacts.find((a) => a.hardwareType === hardwareType);
  if (!entry) return { offers: [] };
  return { offers: entry.components, downloadLimits: entry.download };
}

/**
 * A malformed document may still name its rollout, and the event needs one. Failing that, the
 * control plane's job ids are `<rolloutId>-w<wave>` (functions/use-cases/rollouts/run-waves.ts),
 * so the job id tells; otherwise `unknown`.
 */
function rolloutIdOf(json: unknown, jobId: string): string {
  const value =
    typeof json === 'object' && json !== null ? (json as { rolloutId?: unknown }).rolloutId : undefined;
  if (typeof value === 'string' && value.length > 0 && value.length <= 64) return value;
  const fromJobId = /^(.{1,64})-w\d{1,3}$/.exec(jobId)?.[1];
  return fromJobId ?? 'unknown';
}
