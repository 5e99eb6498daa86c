/**
 * What the device says about an update, in the two shapes the cloud reads: an `OtaEventV1` on
 * `edgeops/devices/<thing>/ota`, and the job execution's statusDetails (string → string, for the
 * AWS console). Events are checked against the contract before they leave, so a bug here fails
 * on the device, loudly, instead of being dropped by the cloud.
 */
import { createHash } from 'node:crypto';
import { type OtaEventV1, OtaEventV1 as OtaEventV1Schema, type OtaStage } from '../../contract/ota';
import type { StatusDetails } from '../cloud/iot-jobs-messages';

/** Printable, non-empty, at most `max` characters: what both statusDetails and event reasons accept. */
export function cleanText(text: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const printable = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  const short = printable.length > max ? `${printable.slice(0, max - 1)}…` : printable;
  return short.length > 0 ? short : '-';
}

export interface OtaEventFacts {
  readonly eventId: string;
  readonly deviceId: string;
  readonly rolloutId: string;
  readonly jobId: string;
  readonly stage: OtaStage;
  readonly runningVersion: string;
  readonly slot: 'A' | 'B';
  readonly at: number;
  readonly seq: number;
  readonly reason?: string | undefined;
  readonly bytesDownloaded?: number | undefined;
  readonly transfer?: OtaEventV1['transfer'] | undefined;
}

export function buildOtaEvent(facts: OtaEventFacts): OtaEventV1 {
  return OtaEventV1Schema.parse({
    schema: 'edgeops.ota-event.v1',
    eventId: facts.eventId,
    deviceId: facts.deviceId,
    rolloutId: facts.rolloutId,
    jobId: facts.jobId,
    stage: facts.stage,
    runningVersion: facts.runningVersion,
    slot: facts.slot,
    at: facts.at,
    seq: facts.seq,
    ...(facts.reason === undefined ? {} : { reason: cleanText(facts.reason, 256) }),
    ...(facts.bytesDownloaded === undefined ? {} : { bytesDownloaded: facts.bytesDownloaded }),
    ...(facts.transfer === undefined ? {} : { transfer: facts.transfer }),
  });
}

/** Name-based UUID (RFC 9562 version 5) namespace of OTA event ids. */
const EVENT_ID_NAMESPACE = Buffer.from('4f0c1d2e6b7a4c3d9e8f7a6b5c4d3e2f', 'hex');

/**
 * The eventId of a device's event `seq` for one execution of a job: the same inputs give the same
 * id, so an event replayed after a restart is the same event to the outbox and the cloud.
 */
export function otaEventId(
  deviceId: string,
  jobId: string,
  executionNumber: number | undefined,
  seq: number,
): string {
  const name = JSON.stringify([deviceId, jobId, executionNumber ?? null, seq]);
  const bytes = createHash('sha1').update(EVENT_ID_NAMESPACE).update(name).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function jobStatusDetails(
  stage: OtaStage,
  extra: Record<string, string | undefined> = {},
): StatusDetails {
  const details: Record<string, string> = { stage };
  for (const [key, value] of Object.entries(extra))
    if (value !== undefined) details[key] = cleanText(value, 1024);
  return details;
}
