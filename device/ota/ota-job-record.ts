/**
 * The OTA job the device is working on (`job.json`) and the last ones it finished
 * (`finished-jobs.json`). The record is what lets a restart pick up where the device was: the
 * components of the update and how far each got, the stage the job reached, the next event seq,
 * and, once decided, the outcome it must still report.
 *
 * An outcome is written before it is reported, and a decision that changes the device (commit
 * everything, roll everything back) is written before the first change it makes, so a crash in
 * between carries on with the same decision instead of inventing another. A stage event is written
 * here (`announced`) before the outbox gets it, for the same reason.
 *
 * A record written by an agent from before multi-component releases (one image, `artifact`) is
 * read as a job with one `firmware` component on the A/B slots.
 */
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import {
  DownloadLimits,
  FIRMWARE_COMPONENT,
  JobDocument,
  JobDocumentV2,
  OtaEventV1,
  ROOTFS_HANDLER,
} from '../../contract/ota';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic, writePoint } from '../storage/atomic-file';

const SlotName = z.enum(['A', 'B']);
const TerminalStatus = z.enum(['SUCCEEDED', 'FAILED', 'REJECTED']);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

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
  sha256: Sha256,
});
export type SignedDownload = z.infer<typeof SignedDownload>;

const SignedDelta = SignedDownload.extend({ baseSha256: z.string() });

/** How the image travels, once decided: a delta that fails falls back to `full`. */
const Transfer = z.enum(['full', 'delta']);

/** One component of the update, as verified, and how far its download got. */
export const ComponentProgress = z.strictObject({
  name: z.string().min(1),
  handler: z.string().min(1),
  /** The component's own version (v2: the release's). */
  version: z.string().min(1),
  /** The version the device ran before, if it knew one. */
  previousVersion: z.string().min(1).optional(),
  /** Signed settings, for the handler (EDGEOPS_CONFIG_<KEY>; `target` also as EDGEOPS_TARGET). */
  settings: z.record(z.string(), z.string()),
  /** `slots`: the built-in A/B slot files; `module`: an update-module handler. */
  installer: z.enum(['slots', 'module']),
  /** The image to install, with the length and SHA-256 the verified TUF targets sign. */
  image: SignedDownload,
  /** A signed delta from the image the device keeps of this component, if the job offered one. */
  delta: SignedDelta.optional(),
  /** The device already runs this image: nothing to download, install or commit. */
  skip: z.boolean(),
  transfer: Transfer.optional(),
  /** Bytes fetched for the image (delta or full), once it is verified on disk. */
  bytesDownloaded: z.number().int().nonnegative().optional(),
  /**
   * Download time (device ms) the current transfer (the delta patch, or the full image after a
   * fall-back, which starts at 0) has spent against its budget, saved now and then while it runs:
   * a restart continues the budget instead of starting it over. Waits for a window do not count.
   */
  downloadMs: z.number().int().nonnegative().optional(),
});
export type ComponentProgress = z.infer<typeof ComponentProgress>;

/**
 * Where the job is. `downloading`, `installing`, `rebooting`: announced stages; `trial`: the new
 * versions run and are being judged; `committing`: judged healthy, being made permanent;
 * `rolling-back`: failed (`failure` says why), the installed components are being put back.
 */
export const JOB_PHASES = [
  'downloading',
  'installing',
  'rebooting',
  'trial',
  'committing',
  'rolling-back',
] as const;

export const JobFailure = z.strictObject({
  /** `failed`: nothing had changed on the device; `rolled-back`: something had and is put back. */
  stage: z.enum(['failed', 'rolled-back']),
  reason: z.string(),
  detail: z.string().optional(),
});
export type JobFailure = z.infer<typeof JobFailure>;

export const JobRecord = z.strictObject({
  jobId: z.string().min(1),
  /** Which execution of the job (a retried job runs again under the same id). */
  executionNumber: z.number().int().optional(),
  document: JobDocument,
  /** This device's components in install order (v2: one, `firmware`). */
  components: z.array(ComponentProgress).min(1),
  /** Download limits of this device's hardware type from the document (v3), over the device's. */
  downloadLimits: z.optional(DownloadLimits),
  /** The furthest stage reached; a restart resumes from here. */
  phase: z.enum(JOB_PHASES),
  /** The confirmed slot and version when the job started: where a revert lands. */
  fromSlot: SlotName,
  fromVersion: z.string().min(1),
  /** The slot the `slots` component goes into. */
  trialSlot: SlotName.optional(),
  /**
   * Trials started without the A/B slots' own counter (no slot on trial: components changed in
   * place, or by update modules alone); each is spent before it runs, like a trial boot.
   */
  trialRuns: z.number().int().nonnegative().optional(),
  /** Set with phase `rolling-back`: why the job failed, and what its outcome will say. */
  failure: JobFailure.optional(),
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

/** `job.json` as an agent from before multi-component releases wrote it. */
const SingleImageJobRecord = z
  .strictObject({
    jobId: z.string().min(1),
    executionNumber: z.number().int().optional(),
    document: JobDocumentV2,
    artifact: SignedDownload,
    delta: SignedDelta.optional(),
    transfer: Transfer.optional(),
    bytesDownloaded: z.number().int().nonnegative().optional(),
    downloadMs: z.number().int().nonnegative().optional(),
    phase: z.enum(['downloading', 'installing', 'rebooting', 'trial']),
    fromSlot: SlotName,
    fromVersion: z.string().min(1),
    trialSlot: SlotName.optional(),
    nextSeq: z.number().int().nonnegative(),
    announced: z.optional(OtaEventV1),
    outcome: JobOutcome.optional(),
  })
  .transform(
    ({ artifact, delta, transfer, bytesDownloaded, downloadMs, ...job }): JobRecord => ({
      ...job,
      components: [
        {
          name: FIRMWARE_COMPONENT,
          handler: ROOTFS_HANDLER,
          version: job.document.release.version,
          settings: {},
          installer: 'slots',
          image: artifact,
          ...(delta ? { delta } : {}),
          skip: false,
          ...(transfer ? { transfer } : {}),
          ...(bytesDownloaded === undefined ? {} : { bytesDownloaded }),
          ...(downloadMs === undefined ? {} : { downloadMs }),
        },
      ],
    }),
  );

const JobRecordOnDisk = z.union([JobRecord, SingleImageJobRecord]);

export class JobRecordStore {
  constructor(
    private readonly path: string,
    private readonly durability: DurabilityOptions,
  ) {}

  read(): Promise<JobRecord | undefined> {
    return readJsonFile(this.path, JobRecordOnDisk);
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
