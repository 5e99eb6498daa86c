/**
 * Dispatch model: the real rollout use cases on in-memory adapters that count the AWS API calls
 * their DynamoDB / IoT / S3 adapters would make, for rollouts of 1k, 10k and 100k devices in two
 * waves (1 % canary, then the rest). Prints calls per device, per wave and per gate check, and
 * projects the minutes to dispatch a 100k-device wave from the rates in docs/architecture.md.
 * Run: `npm run bench -- dispatch-model`.
 *
 * What a port call costs in AWS calls is written once, below (`COSTS`), from the adapters' code:
 * the model is only as true as that table, and a test of the adapters would not catch drift.
 */
import { randomUUID } from 'node:crypto';
import type { OtaEventV1 } from '../contract/ota';
import { InMemoryDeltaStore } from '../functions/adapters/in-memory-delta-store';
import { InMemoryJobDispatcher } from '../functions/adapters/in-memory-job-dispatcher';
import { InMemoryRolloutPlanStore } from '../functions/adapters/in-memory-rollout-plan-store';
import { InMemoryRolloutStore } from '../functions/adapters/in-memory-rollout-store';
import { InMemoryTrustFiles, InMemoryTrustStore } from '../functions/adapters/in-memory-trust-repository';
import { GROUP_WRITES_PER_SECOND } from '../functions/adapters/iot-job-dispatcher';
import type { ReleaseCatalog } from '../functions/ports/release-catalog';
import { PLAN_PIECE_SIZE } from '../functions/ports/rollout-plan-store';
import type { TargetDevice } from '../functions/ports/target-resolver';
import { makeRecordOtaEvent } from '../functions/use-cases/rollouts/record-ota-event';
import { makeGetRolloutStatus } from '../functions/use-cases/rollouts/rollout-status';
import {
  makeAddWaveDevices,
  makeCheckWave,
  makeCreateWaveJob,
  makeNextStep,
  makeStartWave,
  makeWriteExecutions,
  WAVE_DEVICES_PER_STEP,
} from '../functions/use-cases/rollouts/run-waves';
import { makeStartRollout } from '../functions/use-cases/rollouts/start-rollout';

type Calls = Map<string, number>;

/** Bytes of one device item and one execution item, as stored (for Scan/Query page counts). */
const DEVICE_ITEM_BYTES = 400;
const EXECUTION_ITEM_BYTES = 350;
const pages = (items: number, bytes: number) => Math.max(1, Math.ceil((items * bytes) / 2 ** 20));

/** AWS calls each port call makes, from the adapters (functions/adapters/dynamodb-*, iot-*, s3-*). */
const COSTS: Record<string, (args: unknown[], result: unknown) => Record<string, number>> = {
  // DynamoDbRolloutStore
  createRollout: (a) => ({
    'dynamodb:BatchWriteItem': Math.ceil((a[0] as { waves: unknown[] }).waves.length / 25),
    'dynamodb:PutItem': 1,
  }),
  addExecutions: (a) => {
    const n = (a[1] as unknown[]).length;
    return { 'dynamodb:BatchWriteItem': Math.ceil(n / 25), 'dynamodb:UpdateItem': n };
  },
  getRollout: () => ({ 'dynamodb:GetItem': 1 }),
  transition: () => ({ 'dynamodb:UpdateItem': 1 }),
  waveCounts: () => ({ 'dynamodb:Query': 1 }),
  failedSample: () => ({ 'dynamodb:Query': 1 }),
  pageExecutions: (a) => ({
    'dynamodb:Query': pages((a[1] as { limit: number }).limit, EXECUTION_ITEM_BYTES),
  }),
  applyOtaEvent: () => ({ 'dynamodb:GetItem': 1, 'dynamodb:TransactWriteItems': 1 }),
  applyJobExecutionStatus: () => ({ 'dynamodb:GetItem': 1, 'dynamodb:TransactWriteItems': 1 }),
  activeClaims: (a) => ({ 'dynamodb:BatchGetItem': Math.ceil((a[0] as unknown[]).length / 100) }),
  // IotJobDispatcher
  prepareWave: () => ({ 'iot:CreateThingGroup': 1 }),
  addToWave: (a) => ({ 'iot:AddThingToThingGroup': (a[1] as unknown[]).length }),
  startJob: () => ({ 'iot:CreateThingGroup': 1, 'iot:CreateJob': 1 }),
  cancelJob: () => ({ 'iot:CancelJob': 1 }),
  endWave: () => ({ 'iot:DeleteThingGroup': 1 }),
  // S3RolloutPlanStore
  putPieces: (a) => ({ 's3:PutObject': (a[1] as unknown[]).length }),
  getPiece: () => ({ 's3:GetObject': 1 }),
  // FleetTargetResolver: a Scan of the device items
  resolve: (_a, result) => ({ 'dynamodb:Scan': pages((result as unknown[]).length, DEVICE_ITEM_BYTES) }),
  // Release catalog, trust and delta stores: one read each
  getRelease: () => ({ 'dynamodb:GetItem': 1 }),
  getState: () => ({ 'dynamodb:GetItem': 1 }),
  listDeltas: () => ({ 'dynamodb:Query': 1 }),
};

/** Wraps `target` so every call of a method in COSTS adds its AWS calls to `calls`. */
function counted<T extends object>(target: T, calls: () => Calls): T {
  return new Proxy(target, {
    get(obj, name, receiver) {
      const value = Reflect.get(obj, name, receiver);
      const cost = COSTS[String(name)];
      if (typeof value !== 'function' || !cost) return typeof value === 'function' ? value.bind(obj) : value;
      return async (...args: unknown[]) => {
        const result = await value.apply(obj, args);
        for (const [api, n] of Object.entries(cost(args, result)))
          calls().set(api, (calls().get(api) ?? 0) + n);
        return result;
      };
    },
  });
}

const sum = (calls: Calls) => [...calls.values()].reduce((a, b) => a + b, 0);

async function model(deviceCount: number) {
  let phase: Calls = new Map();
  const current = () => phase;
  const measure = async (run: () => Promise<unknown>) => {
    phase = new Map();
    await run();
    const measured = phase;
    phase = new Map();
    return measured;
  };
  const store = new InMemoryRolloutStore();
  const rollouts = counted(store, current);
  const jobs = counted(new InMemoryJobDispatcher(), current);
  const plans = counted(new InMemoryRolloutPlanStore(), current);
  const devices: TargetDevice[] = Array.from({ length: deviceCount }, (_, i) => ({
    deviceId: `gw-${String(i).padStart(6, '0')}`,
    hardwareType: 'rpi4',
    site: `site-${i % 50}`,
    region: 'eu',
    firmwareVersion: '1.0.0',
  }));
  const release = {
    releaseId: 'rel-1.1.0',
    version: '1.1.0',
    components: {
      rpi4: [
        {
          name: 'firmware',
          handler: 'rootfs',
          order: 0,
          settings: {},
          version: '1.1.0',
          bucket: 'b',
          key: 'artifacts/x',
          size: 1,
          sha256: 'a'.repeat(64),
        },
      ],
    },
  };
  const releases: ReleaseCatalog = counted(
    { getRelease: async () => release, findByVersion: async () => undefined },
    current,
  );
  const targets = counted({ resolve: async () => devices }, current);
  const trustStore = new InMemoryTrustStore();
  await trustStore.putState({ rootVersion: 1, versions: { targets: 1, snapshot: 1, timestamp: 1 } });
  const trust = counted(trustStore, current);
  const clock = { now: () => new Date() };
  const orchestrator = {
    start: async () => {},
    stop: async () => {},
    proceed: async () => 'resumed' as const,
  };
  const startRollout = makeStartRollout({ releases, targets, rollouts, orchestrator, clock, trust, plans });
  const writeExecutions = makeWriteExecutions({ rollouts, plans });
  const startWave = makeStartWave({ rollouts, jobs, clock });
  const addWaveDevices = makeAddWaveDevices({ rollouts, jobs });
  const createWaveJob = makeCreateWaveJob({
    rollouts,
    releases,
    deltas: counted(new InMemoryDeltaStore(), current),
    trust: { store: trust, files: new InMemoryTrustFiles() },
    jobs,
    settings: { healthCheckSeconds: 60 },
  });
  const check = makeCheckWave({ rollouts, jobs, clock, waveTimeoutMinutes: 120 });
  const next = makeNextStep({ rollouts });
  const record = makeRecordOtaEvent({ rollouts });
  const status = makeGetRolloutStatus({ rollouts });

  let rolloutId = '';
  let invocations = 0;
  const api = await measure(async () => {
    const { rollout } = await startRollout(
      {
        releaseId: release.releaseId,
        target: { filter: {} },
        waves: [
          {
            size: { percent: 1 },
            soakSeconds: 0,
            successThreshold: 100,
            maxFailures: 0,
            requireApproval: false,
          },
          {
            size: { percent: 100 },
            soakSeconds: 0,
            successThreshold: 95,
            maxFailures: 10,
            requireApproval: false,
          },
        ],
        failurePolicy: 'halt',
        force: false,
      },
      'bench',
    );
    rolloutId = rollout.rolloutId;
  });
  const materialize = await measure(async () => {
    for (let piece: number | null = 0; piece !== null; invocations++)
      piece = (await writeExecutions(rolloutId, piece)).next;
  });
  const waves: { wave: number; devices: number; dispatch: Calls; steps: number }[] = [];
  const events = new Map<string, number>();
  let gate: Calls = new Map();
  for (;;) {
    const step = await next(rolloutId);
    if (step.action !== 'start') break;
    let steps = 0;
    const dispatch = await measure(async () => {
      await startWave(rolloutId, step.waveIndex);
      steps++;
      let cursor: string | undefined;
      do {
        cursor = (await addWaveDevices(rolloutId, step.waveIndex, cursor)).cursor;
        steps++;
      } while (cursor);
      await createWaveJob(rolloutId, step.waveIndex);
      steps++;
    });
    invocations += steps;
    const job = jobs.jobs.get(`${rolloutId}-w${step.waveIndex}`);
    const ingest = await measure(async () => {
      for (const deviceId of job?.deviceIds ?? []) {
        let seq = 0;
        for (const stage of ['queued', 'downloading', 'installing', 'rebooting', 'healthy'] as const) {
          const event: OtaEventV1 = {
            schema: 'edgeops.ota-event.v1',
            eventId: randomUUID(),
            deviceId,
            rolloutId,
            jobId: `${rolloutId}-w${step.waveIndex}`,
            stage,
            runningVersion: stage === 'healthy' ? '1.1.0' : '1.0.0',
            slot: 'B',
            at: Date.now(),
            seq: seq++,
          };
          await record(event, deviceId);
        }
      }
    });
    for (const [k, v] of ingest) events.set(k, (events.get(k) ?? 0) + v);
    gate = await measure(() => check(rolloutId, step.waveIndex, 'gate'));
    await check(rolloutId, step.waveIndex, 'progress');
    await store.transition(rolloutId, ['running'], {
      waves: (await store.getRollout(rolloutId))?.waves.map((w) =>
        w.index === step.waveIndex ? { ...w, status: 'passed' as const } : w,
      ),
    });
    waves.push({ wave: step.waveIndex + 1, devices: job?.deviceIds.length ?? 0, dispatch, steps });
  }
  const read = await measure(() => status(rolloutId));
  return { api, materialize, waves, events, gate, read, invocations };
}

/**
 * Sustained rates the design uses per API (calls per second), from docs/architecture.md's quotas
 * table: AWS IoT's AddThingToThingGroup quota is 100/s and we pace at GROUP_WRITES_PER_SECOND;
 * DynamoDB on-demand writes to distinct devices are not the limit; one claim step runs 16 writes
 * at ~10 ms.
 */
const RATES: Record<string, number> = {
  'iot:AddThingToThingGroup': GROUP_WRITES_PER_SECOND,
  'dynamodb:UpdateItem': 16 / 0.01,
  'dynamodb:BatchWriteItem': 1 / 0.02,
};

const fmt = (calls: Calls, per = 1) =>
  [...calls]
    .sort()
    .map(([api, n]) => `${api.split(':')[1]} ${Number((n / per).toFixed(3))}`)
    .join(', ');

const rows = [];
let last: Awaited<ReturnType<typeof model>> | undefined;
for (const n of [1_000, 10_000, 100_000]) {
  const m = await model(n);
  last = m;
  const dispatchCalls = m.waves.reduce((s, w) => s + sum(w.dispatch), 0) + sum(m.materialize) + sum(m.api);
  const eventCalls = sum(m.events);
  rows.push({
    devices: n,
    'POST /rollouts calls': sum(m.api),
    'dispatch calls / device': Number((dispatchCalls / n).toFixed(2)),
    'event calls / device': Number((eventCalls / n).toFixed(2)),
    'gate check calls': sum(m.gate),
    'GET rollout calls': sum(m.read),
    'step invocations': m.invocations,
  });
}
console.log('\nDispatch model: AWS calls of a two-wave rollout (1 % canary, then the rest)');
console.table(rows);
if (last) {
  console.log(`At 100k devices (plan pieces of ${PLAN_PIECE_SIZE}, wave pages of ${WAVE_DEVICES_PER_STEP}):`);
  console.log(`  POST /rollouts:        ${fmt(last.api)}`);
  console.log(`  write executions:      ${fmt(last.materialize)}`);
  for (const w of last.waves)
    console.log(`  wave ${w.wave} (${w.devices} devices, ${w.steps} steps): ${fmt(w.dispatch)}`);
  console.log(`  per device, events:    ${fmt(last.events, 100_000)}`);
  console.log(`  per gate check:        ${fmt(last.gate)}`);
  console.log(`  GET /rollouts/{id}:    ${fmt(last.read)}`);
  const big = last.waves.at(-1);
  if (big) {
    const minutes = (calls: Calls) =>
      [...calls].reduce((m, [api, n]) => m + (RATES[api] ? n / RATES[api] / 60 : 0), 0);
    const membership = minutes(big.dispatch);
    const claims = minutes(last.materialize);
    const jobMinutes = big.devices / 1000;
    console.log(`\nProjection for a ${big.devices}-device wave on AWS:`);
    console.table([
      {
        step: 'write executions + claims (before wave 1)',
        minutes: Number(claims.toFixed(1)),
        bound: 'DynamoDB writes, 16 at a time',
      },
      {
        step: 'group membership',
        minutes: Number(membership.toFixed(1)),
        bound: `AddThingToThingGroup at ${GROUP_WRITES_PER_SECOND}/s (quota 100/s)`,
      },
      {
        step: 'job executions handed out',
        minutes: jobMinutes,
        bound: 'IoT Jobs rollout ≤ 1000/min per job',
      },
      {
        step: 'dispatch done (membership + job)',
        minutes: Number((membership + jobMinutes).toFixed(1)),
        bound: '',
      },
    ]);
  }
}
