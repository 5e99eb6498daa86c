/**
 * The job document, parsed at the edge: whatever the Jobs service hands over is checked against
 * `JobDocumentV2` before the device acts on it. It is only transport: what the device installs is
 * then verified against the signed TUF metadata (release-trust.ts). A refusal carries a reason the operator can read
 * in the job's statusDetails and in the `failed` event.
 */
import { JobDocumentV2 } from '../../contract/ota';

/** The entry of the release built for this device's hardware type. */
export type DeviceArtifact = JobDocumentV2['artifacts'][number];

export type JobDocumentCheck =
  | { readonly ok: true; readonly document: JobDocumentV2; readonly artifact: DeviceArtifact }
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
  const parsed = JobDocumentV2.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    return { ok: false, reason: `invalid-job-document: ${issues}`, rolloutId };
  }
  const document = parsed.data;
  const mine = document.artifacts.filter((a) => a.hardwareType === policy.hardwareType);
  const artifact = mine[0];
  if (!artifact)
    return {
      ok: false,
      reason: `hardware-type-mismatch: no artifact for ${policy.hardwareType} (job has ${document.artifacts
        .map((a) => a.hardwareType)
        .join(', ')})`,
      rolloutId,
    };
  if (mine.length > 1)
    return {
      ok: false,
      reason: `invalid-job-document: artifacts: more than one for ${policy.hardwareType}`,
      rolloutId,
    };
  const urls = [
    artifact.url,
    ...artifact.deltas.map((d) => d.url),
    ...Object.values(document.trust.metadata),
  ];
  if (!policy.allowPlainHttp && urls.some((url) => new URL(url).protocol !== 'https:'))
    return { ok: false, reason: 'invalid-job-document: https required for every URL', rolloutId };
  return { ok: true, document, artifact };
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
