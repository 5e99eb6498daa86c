import type { JobDocument } from '../../contract/ota';
import type { JobExecutionStatus } from '../domain/rollout';
import type { JobDispatcher } from '../ports/job-dispatcher';

/** What AWS IoT documents: "You can add a thing to a maximum of 10 groups." */
export const MAX_THING_GROUPS_PER_THING = 10;

/** The error AWS IoT answers AddThingToThingGroup with when the thing is in 10 groups already. */
export class ThingGroupLimitError extends Error {
  override readonly name = 'InvalidRequestException';
}

interface Job {
  readonly deviceIds: readonly string[];
  readonly document: JobDocument;
  status: 'IN_PROGRESS' | 'CANCELED' | 'COMPLETED';
  readonly executions: Map<string, JobExecutionStatus>;
}

/** Named as IotJobDispatcher names them. */
const waveGroupName = (jobId: string) => `edgeops-${jobId}`;

const TERMINAL: readonly JobExecutionStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'REJECTED',
  'TIMED_OUT',
  'CANCELED',
  'REMOVED',
];

/**
 * JobDispatcher for unit tests, with the AWS IoT rules the local emulator does not enforce: a
 * thing is in at most 10 thing groups (adding an 11th is refused, and the job is not created), a
 * wave's job targets its group as a snapshot, and deleting the group keeps the executions. A job
 * is COMPLETED once every execution ended; canceling it then (or again) changes nothing.
 */
export class InMemoryJobDispatcher implements JobDispatcher {
  readonly jobs = new Map<string, Job>();
  readonly #groups = new Map<string, Set<string>>();
  readonly canceled: string[] = [];

  async prepareWave(jobId: string): Promise<void> {
    const group = waveGroupName(jobId);
    if (!this.#groups.has(group)) this.#groups.set(group, new Set());
  }

  async addToWave(jobId: string, deviceIds: readonly string[]): Promise<void> {
    for (const deviceId of deviceIds) this.addThingToGroup(deviceId, waveGroupName(jobId));
  }

  async startJob(jobId: string, document: JobDocument): Promise<void> {
    if (this.jobs.has(jobId)) return;
    const deviceIds = [...(this.#groups.get(waveGroupName(jobId)) ?? [])];
    this.jobs.set(jobId, {
      deviceIds,
      document,
      status: 'IN_PROGRESS',
      executions: new Map(deviceIds.map((id) => [id, 'QUEUED'])),
    });
  }

  /** Device id → status of its execution of the job (ListJobExecutionsForJob). */
  executionStatuses(jobId: string): Map<string, JobExecutionStatus> {
    return new Map(this.jobs.get(jobId)?.executions);
  }

  async cancelJob(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job?.status !== 'IN_PROGRESS') return;
    job.status = 'CANCELED';
    this.canceled.push(jobId);
    for (const [deviceId, status] of job.executions)
      if (status === 'QUEUED') job.executions.set(deviceId, 'CANCELED');
  }

  async endWave(jobId: string): Promise<void> {
    this.#groups.delete(waveGroupName(jobId));
  }

  /** AddThingToThingGroup, as AWS IoT does it; also for tests to give a device groups of its own. */
  addThingToGroup(thingName: string, groupName: string): void {
    const members = this.#groups.get(groupName) ?? new Set<string>();
    if (!members.has(thingName) && this.groupsOf(thingName).length >= MAX_THING_GROUPS_PER_THING) {
      throw new ThingGroupLimitError(
        `Thing ${thingName} is already in ${MAX_THING_GROUPS_PER_THING} thing groups; cannot add it to ${groupName}`,
      );
    }
    members.add(thingName);
    this.#groups.set(groupName, members);
  }

  /** ListThingGroupsForThing. */
  groupsOf(thingName: string): string[] {
    return [...this.#groups].filter(([, members]) => members.has(thingName)).map(([name]) => name);
  }

  /** What the device's execution reports, as AWS IoT would record it. */
  setStatus(jobId: string, deviceId: string, status: JobExecutionStatus): void {
    const job = this.jobs.get(jobId);
    if (!job?.executions.has(deviceId)) throw new Error(`No execution of ${jobId} for ${deviceId}`);
    job.executions.set(deviceId, status);
    if (job.status === 'IN_PROGRESS' && [...job.executions.values()].every((s) => TERMINAL.includes(s)))
      job.status = 'COMPLETED';
  }
}
