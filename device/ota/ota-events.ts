/**
 * What the device says about an update, in the two shapes the cloud reads: an `OtaEventV1` on
 * `edgeops/devices/<thing>/ota`, and the job execution's statusDetails (string → string, for the
 * AWS console). Events are checked against the contract before they leave, so a bug here fails
 * on the device, loudly, instead of being dropped by the cloud.
 */
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

export function jobStatusDetails(
  stage: OtaStage,
  extra: Record<string, string | undefined> = {},
): StatusDetails {
  const details: Record<string, string> = { stage };
  for (const [key, value] of Object.entries(extra))
    if (value !== undefined) details[key] = cleanText(value, 1024);
  return details;
}
