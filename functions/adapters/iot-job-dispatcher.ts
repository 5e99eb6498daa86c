import {
  AddThingToThingGroupCommand,
  CancelJobCommand,
  CreateJobCommand,
  CreateThingGroupCommand,
  type IoTClient,
  type JobExecutionStatus as IotJobExecutionStatus,
  ListJobExecutionsForJobCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-iot';
import type { JobDocumentV2 } from '../domain/ota-contract';
import type { JobExecutionStatus } from '../domain/rollout';
import type { JobDispatcher } from '../ports/job-dispatcher';

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
 * (no target-list limits) and the wave's one job targets that group, as a snapshot. Artifact
 * locations `s3://bucket/key` become AWS IoT presign placeholders, so each device gets a fresh,
 * short-lived URL when it fetches the document.
 */
export class IotJobDispatcher implements JobDispatcher {
  constructor(
    private readonly iot: IoTClient,
    private readonly settings: IotJobSettings,
  ) {}

  async startJob(jobId: string, deviceIds: readonly string[], document: JobDocumentV2): Promise<void> {
    const groupName = `edgeops-${jobId}`;
    let groupArn: string | undefined;
    try {
      groupArn = (await this.iot.send(new CreateThingGroupCommand({ thingGroupName: groupName })))
        .thingGroupArn;
    } catch (error) {
      if (!(error instanceof ResourceAlreadyExistsException)) throw error;
      groupArn = error.resourceArn;
    }
    if (!groupArn) throw new Error(`AWS IoT returned no ARN for thing group ${groupName}`);
    for (const thingName of deviceIds) {
      await this.iot.send(new AddThingToThingGroupCommand({ thingGroupName: groupName, thingName }));
    }
    try {
      await this.iot.send(
        new CreateJobCommand({
          jobId,
          targets: [groupArn],
          targetSelection: 'SNAPSHOT',
          document: JSON.stringify(withPresignPlaceholders(document)),
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
        }),
      );
    } catch (error) {
      // Step Functions may retry the step: the job already existing means it was created.
      if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    }
  }

  async executionStatuses(jobId: string): Promise<Map<string, JobExecutionStatus>> {
    const statuses = new Map<string, JobExecutionStatus>();
    let nextToken: string | undefined;
    do {
      const page = await this.iot
        .send(new ListJobExecutionsForJobCommand({ jobId, maxResults: 250, nextToken }))
        // A wave records its job id just before it creates the job: none yet means no executions.
        .catch((error: unknown) => {
          if (error instanceof ResourceNotFoundException)
            return { executionSummaries: [], nextToken: undefined };
          throw error;
        });
      for (const summary of page.executionSummaries ?? []) {
        const thingName = summary.thingArn?.split('/').pop();
        const status = summary.jobExecutionSummary?.status as IotJobExecutionStatus | undefined;
        if (thingName && status) statuses.set(thingName, status as JobExecutionStatus);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return statuses;
  }

  async cancelJob(jobId: string, reason: string): Promise<void> {
    await this.iot.send(
      new CancelJobCommand({
        jobId,
        reasonCode: 'EDGEOPS_HALT',
        comment: reason.slice(0, 2028),
        force: false,
      }),
    );
  }
}

/**
 * Every `s3://bucket/key` location in the document (images, deltas, TUF metadata) becomes
 * `${aws:iot:s3-presigned-url:https://s3.amazonaws.com/bucket/key}`; other URLs stay as they are.
 */
export function withPresignPlaceholders(document: JobDocumentV2): JobDocumentV2 {
  const presign = (url: string) => {
    const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
    return match ? `\${aws:iot:s3-presigned-url:https://s3.amazonaws.com/${match[1]}/${match[2]}}` : url;
  };
  return {
    ...document,
    trust: {
      metadata: Object.fromEntries(
        Object.entries(document.trust.metadata).map(([name, url]) => [name, presign(url)]),
      ),
    },
    artifacts: document.artifacts.map((a) => ({
      ...a,
      url: presign(a.url),
      deltas: a.deltas.map((d) => ({ ...d, url: presign(d.url) })),
    })),
  };
}
