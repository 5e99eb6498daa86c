import { setTimeout as sleep } from 'node:timers/promises';
import type { JobDocument } from '../../contract/ota';
import type { JobDispatcher } from '../ports/job-dispatcher';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { IotApi } from '../shared/aws-api/iot';

/**
 * AddThingToThingGroup calls in flight at once, and per second, while a wave's devices join its
 * group. AWS IoT allows 100 per second per account (docs/architecture.md, quotas); one rollout
 * dispatches one page at a time, so this keeps a dispatching rollout at 80 % of it. The client
 * backs off and retries if other callers push the account over.
 */
const GROUP_WRITE_CONCURRENCY = 8;
export const GROUP_WRITES_PER_SECOND = 80;

export interface IotJobSettings {
  /** Role AWS IoT assumes to presign artifact URLs when it hands the document to a device. */
  readonly presignRoleArn: string;
  /** How long a presigned artifact URL stays valid (60–3600 s). */
  readonly presignExpiresInSec: number;
  /** A device that has not finished in this time times out (TIMED_OUT counts as a failure). */
  readonly inProgressTimeoutMinutes: number;
  /** Executions released per minute (AWS IoT rollout rate). */
  readonly maximumPerMinute: number;
}

/**
 * JobDispatcher on AWS IoT Jobs. A wave's devices go into a static thing group of their own
 * (no target-list limits) and the wave's one job targets that group, as a snapshot. The group is
 * deleted when the wave ends, so a device is in at most one EdgeOps group at a time (AWS IoT
 * allows 10 per thing). Artifact
 * locations `s3://bucket/key` become AWS IoT presign placeholders, so each device gets a fresh,
 * short-lived URL when it fetches the document.
 */
export class IotJobDispatcher implements JobDispatcher {
  constructor(
    private readonly iot: IotApi,
    private readonly settings: IotJobSettings,
  ) {}

  async prepareWave(jobId: string): Promise<void> {
    await this.#groupArn(waveGroupName(jobId));
  }

  async addToWave(jobId: string, deviceIds: readonly string[]): Promise<void> {
    const thingGroupName = waveGroupName(jobId);
    const queue = [...deviceIds];
    let nextSlot = Date.now();
    const pace = async () => {
      const wait = nextSlot - Date.now();
      nextSlot = Math.max(nextSlot, Date.now()) + 1000 / GROUP_WRITES_PER_SECOND;
      if (wait > 0) await sleep(wait);
    };
    const add = async () => {
      for (let thingName = queue.shift(); thingName !== undefined; thingName = queue.shift()) {
        await pace();
        await this.iot.addThingToThingGroup({ thingGroupName, thingName });
      }
    };
    await Promise.all(Array.from({ length: GROUP_WRITE_CONCURRENCY }, add));
  }

  async startJob(jobId: string, document: JobDocument): Promise<void> {
    const groupArn = await this.#groupArn(waveGroupName(jobId));
    try {
      await this.iot.createJob({
        jobId,
        targets: [groupArn],
        targetSelection: 'SNAPSHOT',
        document: fitJobDocument(withPresignPlaceholders(document)),
        description: `EdgeOps rollout ${document.rolloutId}, wave ${document.waveIndex + 1}`,
        presignedUrlConfig: {
          roleArn: this.settings.presignRoleArn,
          expiresInSec: this.settings.presignExpiresInSec,
        },
        timeoutConfig: { inProgressTimeoutInMinutes: this.settings.inProgressTimeoutMinutes },
        // A device that timed out (lost power mid-download, say) gets one more go; one that
        // failed or rejected does not: that is a verdict, and the wave gate counts it.
        jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'TIMED_OUT', numberOfRetries: 1 }] },
        jobExecutionsRolloutConfig: { maximumPerMinute: this.settings.maximumPerMinute },
      });
    } catch (error) {
      // Step Functions may retry the step: the job already existing means it was created.
      if (!isAwsApiError(error, 'ResourceAlreadyExistsException')) throw error;
    }
  }

  /** The group's ARN, creating it if it does not exist yet. */
  async #groupArn(thingGroupName: string): Promise<string> {
    let groupArn: string | undefined;
    try {
      groupArn = (await this.iot.createThingGroup({ thingGroupName })).thingGroupArn;
    } catch (error) {
      if (!isAwsApiError(error, 'ResourceAlreadyExistsException')) throw error;
      groupArn = typeof error.details.resourceArn === 'string' ? error.details.resourceArn : undefined;
    }
    if (!groupArn) throw new Error(`AWS IoT returned no ARN for thing group ${thingGroupName}`);
    return groupArn;
  }

  async cancelJob(jobId: string, reason: string): Promise<void> {
    try {
      await this.iot.cancelJob({
        jobId,
        reasonCode: 'EDGEOPS_HALT',
        comment: reason.slice(0, 2028),
        force: false,
      });
    } catch (error) {
      if (isAwsApiError(error, 'ResourceNotFoundException')) return;
      // AWS IoT refuses to cancel a job that is no longer IN_PROGRESS (InvalidRequestException):
      // the wave's devices all finished, or an abort and a halt both got here. Anything else, or
      // a job still in progress, is a real failure.
      const refused = isAwsApiError(
        error,
        'InvalidRequestException',
        'InvalidStateTransitionException',
        'ConflictException',
      );
      if (!refused || !(await this.#jobEnded(jobId))) throw error;
    }
  }

  async endWave(jobId: string): Promise<void> {
    // Deleting the group removes its memberships; the job, a snapshot, keeps its executions.
    try {
      await this.iot.deleteThingGroup({ thingGroupName: waveGroupName(jobId) });
    } catch (error) {
      if (!isAwsApiError(error, 'ResourceNotFoundException')) throw error;
    }
  }

  async #jobEnded(jobId: string): Promise<boolean> {
    try {
      const { job } = await this.iot.describeJob({ jobId });
      return job?.status !== 'IN_PROGRESS' && job?.status !== 'SCHEDULED';
    } catch (error) {
      if (isAwsApiError(error, 'ResourceNotFoundException')) return true;
      throw error;
    }
  }
}

/** Names of the thing groups EdgeOps makes start with this; nothing else of ours does. */
export const WAVE_GROUP_PREFIX = 'edgeops-';

/** The static thing group a wave's devices are in while its job `jobId` (`<rolloutId>-w<n>`) runs. */
export const waveGroupName = (jobId: string) => `${WAVE_GROUP_PREFIX}${jobId}`;

/** AWS IoT's limit on a job document, in bytes (UTF-8). */
export const MAX_JOB_DOCUMENT_BYTES = 32_768;

/** A wave's job document cannot be made to fit AWS IoT's limit. */
export class JobDocumentTooLargeError extends Error {
  override readonly name = 'JobDocumentTooLargeError';
}

/**
 * The document as AWS IoT will store it, within MAX_JOB_DOCUMENT_BYTES. Deltas only save bytes,
 * so if it is too large, deltas are left out until it fits, one at a time: the last of the
 * longest list of deltas (each image's deltas are listed most devices first), across hardware
 * types and components; a device whose delta was left out takes the full image. If it still does
 * not fit, the release has too many hardware types (and components) for one job.
 */
export function fitJobDocument(document: JobDocument, limit = MAX_JOB_DOCUMENT_BYTES): string {
  const fitted = structuredClone(document);
  // One list of deltas per image: per hardware type (v2), or per hardware type and component (v3).
  const lists =
    fitted.schema === 'edgeops.ota.v2'
      ? fitted.artifacts.map((a) => a.deltas)
      : fitted.artifacts.flatMap((a) => a.components.map((c) => c.deltas));
  let bytes = Buffer.byteLength(JSON.stringify(fitted));
  while (bytes > limit) {
    const longest = lists.reduce((best, list) => (list.length > best.length ? list : best), []);
    const dropped = longest.pop();
    if (dropped === undefined) {
      const images = lists.length;
      const hardwareTypes = fitted.artifacts.length;
      throw new JobDocumentTooLargeError(
        `The job document of rollout ${document.rolloutId}, wave ${document.waveIndex + 1} is ${bytes} bytes without deltas, over AWS IoT's ${limit}: the release has too many ${
          images > hardwareTypes
            ? `hardware types and components (${hardwareTypes} hardware types, ${images} images)`
            : `hardware types (${hardwareTypes})`
        } for one job`,
      );
    }
    // What leaving one entry out of a JSON array saves: the entry, and the comma before it.
    bytes -= Buffer.byteLength(JSON.stringify(dropped)) + (longest.length > 0 ? 1 : 0);
  }
  const json = JSON.stringify(fitted);
  if (Buffer.byteLength(json) !== bytes) throw new Error('fitJobDocument miscounted the document');
  return json;
}

/**
 * Every `s3://bucket/key` location in the document (images, deltas, TUF metadata) becomes
 * `${aws:iot:s3-presigned-url:https://s3.amazonaws.com/bucket/key}`; other URLs stay as they are.
 */
export function withPresignPlaceholders(document: JobDocument): JobDocument {
  const presign = (url: string) => {
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
    return match ? `\${aws:iot:s3-presigned-url:https://s3.amazonaws.com/${match[1]}/${match[2]}}` : url;
  };
  const image = <T extends { url: string; deltas: readonly { url: string }[] }>(entry: T): T => ({
    ...entry,
    url: presign(entry.url),
    deltas: entry.deltas.map((d) => ({ ...d, url: presign(d.url) })),
  });
  const trust = {
    metadata: Object.fromEntries(
      Object.entries(document.trust.metadata).map(([name, url]) => [name, presign(url)]),
    ),
  };
  return document.schema === 'edgeops.ota.v2'
    ? { ...document, trust, artifacts: document.artifacts.map(image) }
    : {
        ...document,
        trust,
        artifacts: document.artifacts.map((a) => ({ ...a, components: a.components.map(image) })),
      };
}
