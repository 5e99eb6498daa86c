/**
 * schemathesis against the deployed operator API, from the OpenAPI document the API serves, with
 * the admin token (every operation is allowed, so the handlers run, not only the role check):
 *
 * - no answer is a 5xx, whatever it was sent;
 * - a request refused with a 4xx writes nothing. Every operation is fuzzed with data that breaks
 *   its schema (`--mode negative`), between two snapshots of everything the stack stores (every
 *   item of every DynamoDB table but the audit trail's, which records refused requests on purpose;
 *   every object version and open multipart upload of every bucket; every IoT thing and
 *   certificate; every Step Functions execution). Every one of those answers must be a 4xx (a 2xx
 *   would mean a handler accepts what its own schema forbids), so no request of the run was
 *   allowed to write: the two snapshots must be equal, and the test lists what changed. The first
 *   snapshot is taken once the stack is quiet (two equal snapshots in a row), so that events of
 *   earlier tests still in flight are not counted.
 * - valid data (`--mode positive`) is fuzzed for 5xx only: a valid request may write.
 *
 * Bounded: a few examples per operation (EDGEOPS_FUZZ_EXAMPLES, default 8; a negative example
 * becomes about ten requests, one per broken part) and a fixed seed (EDGEOPS_FUZZ_SEED), so a
 * failure can be repeated; under 2 minutes on 2 cores.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { IoTClient, ListCertificatesCommand, ListThingsCommand } from '@aws-sdk/client-iot';
import {
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { ListExecutionsCommand, ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { installSchemathesis } from '../../scripts/local-aws/schemathesis';
import { runSupervised } from '../../scripts/local-aws/supervised';
import { context } from './support';

const EXAMPLES = Number(process.env.EDGEOPS_FUZZ_EXAMPLES ?? 8);
const SEED = process.env.EDGEOPS_FUZZ_SEED ?? '20261128';

interface Operation {
  readonly method: string;
  readonly path: string;
}
interface Answer {
  readonly request: string;
  readonly status: number;
}
interface RunResult {
  readonly answers: Answer[];
  readonly output: string;
}

let bin: string;
let workDir: string;
let specFile: string;
let operations: Operation[] = [];
const config = () => localClientConfig(context());
const clients = {
  dynamodb: undefined as DynamoDBClient | undefined,
  s3: undefined as S3Client | undefined,
  iot: undefined as IoTClient | undefined,
  sfn: undefined as SFNClient | undefined,
};

beforeAll(async () => {
  bin = await installSchemathesis({ log: () => {} });
  workDir = mkdtempSync(join(tmpdir(), 'edgeops-fuzz-'));
  // The document as the API serves it (GET /openapi.json needs no token).
  const served = await fetch(new URL('openapi.json', context().apiUrl));
  expect(served.status).toBe(200);
  const spec = (await served.json()) as { paths: Record<string, Record<string, unknown>> };
  specFile = join(workDir, 'openapi.json');
  writeFileSync(specFile, JSON.stringify(spec));
  operations = Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => ({ method: method.toUpperCase(), path })),
  );
  clients.dynamodb = new DynamoDBClient(config());
  clients.s3 = new S3Client({ ...config(), forcePathStyle: true });
  clients.iot = new IoTClient(config());
  clients.sfn = new SFNClient(config());
}, 300_000);

afterAll(() => {
  for (const client of Object.values(clients)) client?.destroy();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** Runs schemathesis once and returns the status of every answer it got (from its HAR report). */
async function schemathesis(args: readonly string[], name: string): Promise<RunResult> {
  const har = join(workDir, `${name}.har`);
  let output = '';
  try {
    const run = await runSupervised(
      bin,
      [
        'run',
        specFile,
        '--url',
        context().apiUrl,
        '--header',
        `Authorization: ${context().tokens.admin}`,
        '--checks',
        'not_a_server_error',
        '--phases',
        'fuzzing',
        '--max-examples',
        String(EXAMPLES),
        '--seed',
        SEED,
        '--no-shrink',
        '--workers',
        '2',
        '--request-timeout',
        '35',
        '--report',
        'har',
        '--report-har-path',
        har,
        '--suppress-health-check',
        'all',
        ...args,
      ],
      // Its example database (.hypothesis) goes to the work dir, not the repository.
      { cwd: workDir, env: { ...process.env, NO_COLOR: '1' } },
    );
    output = run.stdout + run.stderr;
  } catch (error) {
    // Exit code 1: a check failed (a 5xx); the answers below say which. No report: the run itself broke.
    output = String((error as { stdout?: string }).stdout ?? '') + String((error as Error).message);
    if (!existsSync(har)) throw error;
  }
  type HarEntry = { request: { method: string; url: string }; response: { status: number } };
  const entries = existsSync(har)
    ? (JSON.parse(readFileSync(har, 'utf8')) as { log: { entries: HarEntry[] } }).log.entries
    : [];
  const base = new URL(context().apiUrl).pathname;
  return {
    answers: entries.map((e) => ({
      request: `${e.request.method} ${new URL(e.request.url).pathname.replace(base, '/')}`,
      status: e.response.status,
    })),
    output,
  };
}

/** A fingerprint of everything the stack stores, but the audit trail. */
async function snapshot(): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  const hash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex');
  const dynamodb = clients.dynamodb as DynamoDBClient;
  const { TableNames = [] } = await dynamodb.send(new ListTablesCommand({}));
  for (const table of TableNames.filter((name) => !/Audit/i.test(name))) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await dynamodb.send(
        new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
      );
      for (const item of page.Items ?? [])
        state.set(`dynamodb ${table} ${item.pk?.S ?? ''}|${item.sk?.S ?? hash(item)}`, hash(item));
      start = page.LastEvaluatedKey;
    } while (start);
  }
  const s3 = clients.s3 as S3Client;
  for (const { Name: bucket } of (await s3.send(new ListBucketsCommand({}))).Buckets ?? []) {
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const page = await s3.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
      );
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])])
        state.set(`s3 ${bucket} ${v.Key}@${v.VersionId}`, 'ETag' in v ? String(v.ETag) : 'delete-marker');
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) state.set(`s3-upload ${bucket} ${u.Key} ${u.UploadId}`, 'open');
  }
  const iot = clients.iot as IoTClient;
  let next: string | undefined;
  do {
    const page = await iot.send(new ListThingsCommand({ maxResults: 250, nextToken: next }));
    for (const t of page.things ?? []) state.set(`iot-thing ${t.thingName}`, hash(t));
    next = page.nextToken;
  } while (next);
  let marker: string | undefined;
  do {
    const page = await iot.send(new ListCertificatesCommand({ pageSize: 250, marker }));
    for (const c of page.certificates ?? [])
      state.set(`iot-certificate ${c.certificateId}`, String(c.status));
    marker = page.nextMarker;
  } while (marker);
  const sfn = clients.sfn as SFNClient;
  for (const machine of (await sfn.send(new ListStateMachinesCommand({}))).stateMachines ?? []) {
    const { executions = [] } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machine.stateMachineArn, maxResults: 1000 }),
    );
    for (const e of executions) state.set(`execution ${machine.name} ${e.name}`, 'started');
  }
  return state;
}

function differences(before: Map<string, string>, after: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [key, value] of after)
    if (before.get(key) !== value) changed.push(before.has(key) ? `changed ${key}` : `added ${key}`);
  for (const key of before.keys()) if (!after.has(key)) changed.push(`removed ${key}`);
  return changed;
}

/** A snapshot taken once two in a row, 2 s apart, are equal (at most 30 s). */
async function quietSnapshot(): Promise<Map<string, string>> {
  let last = await snapshot();
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const next = await snapshot();
    if (differences(last, next).length === 0) return next;
    last = next;
  }
  return last;
}

const summary = (answers: readonly Answer[]) =>
  answers
    .slice(0, 20)
    .map((a) => `${a.status} ${a.request}`)
    .join('\n');

describe('operator API under schemathesis (docs/openapi.json)', () => {
  it('refuses data that breaks the schema with a 4xx, never a 5xx, and writes nothing for it', async () => {
    const before = await quietSnapshot();
    const run = await schemathesis(['--mode', 'negative'], 'negative');
    const after = await snapshot();

    const fuzzed = new Set(run.answers.map((a) => a.request.split(' ')[0]));
    expect(run.answers.length, run.output.slice(-3000)).toBeGreaterThan(operations.length * 3);
    expect(fuzzed).toContain('POST');
    expect(summary(run.answers.filter((a) => a.status >= 500)), run.output.slice(-3000)).toBe('');
    expect(summary(run.answers.filter((a) => a.status < 400))).toBe('');
    expect(differences(before, after).slice(0, 20)).toEqual([]);
  }, 360_000);

  it('answers valid data without a 5xx', async () => {
    const run = await schemathesis(['--mode', 'positive'], 'positive');
    expect(run.answers.length).toBeGreaterThan(operations.length);
    expect(summary(run.answers.filter((a) => a.status >= 500)), run.output.slice(-3000)).toBe('');
  }, 240_000);
});
