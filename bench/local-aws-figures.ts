/**
 * Figures the local-AWS benchmarks (fleet.ts, telemetry-ingest.ts) read off the emulator: memory
 * and CPU of MiniStack and its Lambda workers from /proc, a function's log lines from CloudWatch
 * Logs (to count invocations and the records they handled), and queue depths.
 */
import { readFileSync } from 'node:fs';
import {
  type CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  FilterLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { GetQueueAttributesCommand, ListQueuesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ProcessInfo } from '../scripts/local-aws/processes';

/** Lambda workers run as `node` (their main thread shows as `MainThread`); the rest is MiniStack. */
const isLambdaWorker = (status: string) => /Name:\s+(MainThread|node)\b/.test(status);

/** Resident memory (MB) of each process, summed by kind: MiniStack itself, and its Lambda workers. */
export function memoryOf(processes: readonly ProcessInfo[]) {
  let emulator = 0;
  let workers = 0;
  for (const { pid } of processes) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
      if (isLambdaWorker(status)) workers += rss;
      else emulator += rss;
    } catch {}
  }
  return { emulator, workers };
}

/**
 * CPU seconds (user + system) used so far, by kind. Workers count only while they live: a worker
 * that exited took its CPU time with it, so compare MiniStack's figure across a run, not theirs.
 */
export function cpuSecondsOf(processes: readonly ProcessInfo[]) {
  let emulator = 0;
  let workers = 0;
  for (const { pid } of processes) {
    try {
      const worker = isLambdaWorker(readFileSync(`/proc/${pid}/status`, 'utf8'));
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
      if (worker) workers += ticks;
      else emulator += ticks;
    } catch {}
  }
  return { emulator: emulator / 100, workers: workers / 100 }; // USER_HZ
}

/** CPU seconds MiniStack itself has used so far; its Lambda workers not included. */
export function emulatorCpuSeconds(processes: readonly ProcessInfo[]) {
  return cpuSecondsOf(processes).emulator;
}

/** Names of the log groups whose name matches, over every page of DescribeLogGroups (50 a page). */
export async function logGroupsMatching(logs: CloudWatchLogsClient, name: RegExp): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await logs.send(new DescribeLogGroupsCommand({ nextToken }));
    for (const group of page.logGroups ?? [])
      if (group.logGroupName && name.test(group.logGroupName)) names.push(group.logGroupName);
    nextToken = page.nextToken;
  } while (nextToken);
  return names;
}

export interface LogLine {
  readonly timestamp: number;
  readonly message: string;
}

/**
 * Every event of a log group between `startTime` and `endTime` (ms, inclusive) that matches
 * `filterPattern`. FilterLogEvents returns at most 10,000 events a call, and MiniStack gives no
 * `nextToken` after them: a full page without one is fetched again as two halves of its time range.
 */
export async function logLines(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  range: { readonly startTime?: number; readonly endTime?: number; readonly filterPattern?: string } = {},
): Promise<LogLine[]> {
  const limit = 10_000;
  const startTime = range.startTime ?? 0;
  const endTime = range.endTime ?? Date.now() + 60_000;
  const lines: LogLine[] = [];
  let nextToken: string | undefined;
  let fetched = 0;
  do {
    const page = await logs.send(
      new FilterLogEventsCommand({
        logGroupName,
        startTime,
        endTime,
        limit,
        nextToken,
        ...(range.filterPattern ? { filterPattern: range.filterPattern } : {}),
      }),
    );
    const events = page.events ?? [];
    fetched += events.length;
    nextToken = page.nextToken;
    if (!nextToken && events.length >= limit && fetched === events.length && endTime > startTime) {
      const middle = Math.floor((startTime + endTime) / 2);
      return [
        ...(await logLines(logs, logGroupName, { ...range, startTime, endTime: middle })),
        ...(await logLines(logs, logGroupName, { ...range, startTime: middle + 1, endTime })),
      ];
    }
    for (const event of events) lines.push({ timestamp: event.timestamp ?? 0, message: event.message ?? '' });
  } while (nextToken);
  return lines;
}

/** Messages waiting (visible) and in flight (not visible) in the queues whose URL matches. */
export async function queueDepth(sqs: SQSClient, url: RegExp) {
  const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({}));
  let waiting = 0;
  let inFlight = 0;
  for (const queueUrl of QueueUrls.filter((u) => url.test(u))) {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    waiting += Number(Attributes.ApproximateNumberOfMessages ?? 0);
    inFlight += Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0);
  }
  return { waiting, inFlight };
}
