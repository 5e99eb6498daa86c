/**
 * The OTA job the device is working on (`job.json`) and the last ones it finished
 * (`finished-jobs.json`). The record is what lets a restart pick up where the device was: the
 * stage it reached, the next event seq, and, once decided, the outcome it must still report.
 *
 * An outcome is written before the boot state changes for it, so a crash in between replays the
 * same outcome (same eventId and seq) instead of inventing another. A stage event is written here
 * (`announced`) before the outbox gets it, for the same reason.
 */
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { JobDocumentV2, OtaEventV1 } from '../../contract/ota';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic, writePoint } from '../storage/atomic-file';

const SlotName = z.enum(['A', 'B']);
const TerminalStatus = z.enum(['SUCCEEDED', 'FAILED', 'REJECTED']);

export const JobOutcome = z.strictObject({
  stage: z.enum(['healthy', 'failed', 'rolled-back']),
  jobStatus: TerminalStatus,
  reason: z.string().optional(),
  /** More than the reason code, for the job's statusDetails (e.g. what the health check saw). */
  detail: z.string().optional(),
  eventId: z.string().uuid(),
  seq: z.number().int().nonnegative(),
  at: z.number().int().positive(),
});
export type JobOutcome = z.infer<typeof JobOutcome>;

const SignedDownload = z.strictObject({
  target: z.string().min(1),
  url: z.string().url(),
  size: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type SignedDownload = z.infer<typeof SignedDownload>;

export const JobRecord = z.strictObject({
  jobId: z.string().min(1),
  /** Which execution of the job (a retried job runs again under the same id). */
  executionNumber: z.number().int().optional(),
  document: JobDocumentV2,
  /** The image to install, with the length and SHA-256 the verified TUF targets sign. */
  artifact: SignedDownload,
  /** A signed delta from the active slot's image, if the job offered one. */
  delta: SignedDownload.extend({ baseSha256: z.string() }).optional(),
  /** How the image travels, once decided: a delta that fails falls back to `full`. */
  transfer: z.enum(['full', 'delta']).optional(),
  /** Bytes fetched for the image (delta or full), once it is verified; later events repeat it. */
  bytesDownloaded: z.number().int().nonnegative().optional(),
  /**
   * Download time (device ms) the current transfer (the delta patch, or the full image after a
   * fall-back, which starts at 0) has spent against its budget, saved now and then while it runs:
   * a restart continues the budget instead of starting it over. Waits for a window do not count.
   */
  downloadMs: z.number().int().nonnegative().optional(),
  /** The furthest stage reached; a restart resumes from here. */
  phase: z.enum(['downloading', 'installing', 'rebooting', 'trial']),
  /** The confirmed slot and version when the job started: where a revert lands. */
  fromSlot: SlotName,
  fromVersion: z.string().min(1),
  trialSlot: SlotName.optional(),
  /** Seq of the device's next event for this job. */
  nextSeq: z.number().int().nonnegative(),
  /**
   * The last stage event, written here (with its seq and eventId) before it goes into the outbox:
   * a restart queues it again, so a power cut between the two writes loses nothing.
   */
  announced: z.optional(OtaEventV1),
  outcome: JobOutcome.optional(),
});
export type JobRecord = z.infer<typeof JobRecord>;

export class JobRecordStore {
  constructor(
    private readonly path: string,
    private readonly durability: DurabilityOptions,
  ) {}

  read(): Promise<JobRecord | undefined> {
    return readJsonFile(this.path, JobRecord);
  }

  async write(record: JobRecord): Promise<void> {
    await writeJsonAtomic(this.path, JobRecord.parse(record), this.durability);
  }

  async remove(): Promise<void> {
    writePoint(this.path, this.durability);
    await rm(this.path, { force: true });
  }
}

export const FinishedJob = z.strictObject({
  jobId: z.string().min(1),
  executionNumber: z.number().int().optional(),
  status: TerminalStatus,
  statusDetails: z.record(z.string(), z.string()),
  /** Seq of the job's last event: a later execution of the same job continues after it. */
  lastSeq: z.number().int().nonnegative(),
});
export type FinishedJob = z.infer<typeof FinishedJob>;

/** The last few finished jobs: if the service hands one out again, the device repeats its answer. */
export class FinishedJobs {
  static readonly KEEP = 20;

  private constructor(
    private readonly path: string,
    private jobs: FinishedJob[],
    private readonly durability: DurabilityOptions,
  ) {}

  static async open(path: string, durability: DurabilityOptions): Promise<FinishedJobs> {
    return new FinishedJobs(path, (await readJsonFile(path, z.array(FinishedJob))) ?? [], durability);
  }

  get(jobId: string): FinishedJob | undefined {
    return this.jobs.find((job) => job.jobId === jobId);
  }

  async add(job: FinishedJob): Promise<void> {
    this.jobs = [...this.jobs.filter((j) => j.jobId !== job.jobId), job].slice(-FinishedJobs.KEEP);
    await writeJsonAtomic(this.path, this.jobs, this.durability);
  }
}
