/**
 * The whole system, locally: local AWS, the real stack deployed into it, an admin operator,
 * releases 1.0.0 and 1.1.0, and a simulated fleet on 1.0.0 that takes OTA jobs and sends
 * telemetry, with the fleet analysis run every minute (the local stage has no schedule).
 * Used by `npm start` and `npm run demo`.
 */

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describeRetry, OperatorApiClient } from '../../operator-client/operator-api-client';
import type { FaultMix } from '../../simulator/fault-profiles';
import { FleetSimulator, type FleetTelemetryOptions } from '../../simulator/fleet-simulator';
import { type DeployedStack, deployStack } from './deploy';
import { firmwareImage } from './firmware-images';
import { type LocalAws, localClientConfig, RUNTIME_DIR, type StartOptions, startLocalAws } from './ministack';
import { createOperator } from './operators';
import { publishRelease } from './releases';
import { setUpReleaseTrust } from './trust';

export const FLEET_HARDWARE = ['rpi4', 'jetson-nano'] as const;

export interface LocalEdgeOps {
  readonly aws: LocalAws;
  readonly stack: DeployedStack;
  readonly api: OperatorApiClient;
  readonly tokenFile: string;
  readonly fleet: FleetSimulator;
  stop(): Promise<void>;
}

/**
 * Brings everything up in order. With `signal`, an abort at any moment (Ctrl-C) stops what was
 * started so far at once (the fleet, cdk and its children, local AWS with its Lambda workers),
 * and the call rejects with the signal's reason.
 */
export async function bringUpLocalEdgeOps(options: {
  readonly aws?: StartOptions;
  readonly fleetSize: number;
  readonly faultMix?: FaultMix;
  /** Scales device-side waits (health checks, slow links). @default 0.2 */
  readonly timeFactor?: number;
  /**
   * The devices' telemetry (simulated readings through the real pipeline), or false for none.
   * @default one-minute windows of a sample every 5 s, sent every minute; everyone steady
   */
  readonly telemetry?: Omit<FleetTelemetryOptions, 'stateDir'> | false;
  /** How often the fleet analysis runs (local AWS runs no schedule); 0 for never. @default 60 s */
  readonly analyzeEverySeconds?: number;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
}): Promise<LocalEdgeOps> {
  const { log, signal } = options;
  signal?.throwIfAborted();
  log('Starting local AWS (MiniStack) ...');
  const aws = await startLocalAws({ log, ...options.aws, ...(signal ? { signal } : {}) });
  let fleet: FleetSimulator | undefined;
  let analysis: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(analysis);
      await fleet?.stop();
      await aws.stop();
    })();
    return stopping;
  };
  // Steps that do not watch the signal (SDK calls) fail fast once local AWS is gone.
  const onAbort = () => void stop();
  signal?.addEventListener('abort', onAbort, { once: true });
  const step = <T>(work: Promise<T>) =>
    work.then((value) => {
      signal?.throwIfAborted();
      return value;
    });
  try {
    const stack = await step(deployStack(aws, { log, ...(signal ? { signal } : {}) }));
    const admin = await step(
      createOperator(
        stack.outputs,
        'admin',
        'admin',
        new CognitoIdentityProviderClient(localClientConfig(aws)),
      ),
    );
    mkdirSync(RUNTIME_DIR, { recursive: true });
    const tokenFile = join(RUNTIME_DIR, 'operator-token');
    writeFileSync(tokenFile, admin.idToken, { mode: 0o600 });
    writeFileSync(join(RUNTIME_DIR, 'operator.json'), JSON.stringify(admin, null, 2), { mode: 0o600 });
    const api = new OperatorApiClient(stack.apiUrl, admin.idToken);

    log("Root ceremony: three root keys, threshold two, and the stack's online keys ...");
    await step(setUpReleaseTrust(api));
    log('Publishing releases 1.0.0 and 1.1.0 ...');
    await step(publishRelease(api, '1.0.0', FLEET_HARDWARE, (hw) => firmwareImage(hw, '1.0.0')));
    await step(publishRelease(api, '1.1.0', FLEET_HARDWARE, (hw) => firmwareImage(hw, '1.1.0')));

    const ca = await step((await fetch(`${aws.endpoint}/_ministack/iot/ca.pem`)).text());
    const stateDir = join(RUNTIME_DIR, 'fleet-state');
    rmSync(stateDir, { recursive: true, force: true });
    log(`Starting a simulated fleet of ${options.fleetSize} devices on 1.0.0 (registering 4 at a time) ...`);
    fleet = new FleetSimulator({
      api,
      // Local AWS is one Python process: under a fleet's load it can leave a ping or a CONNACK
      // unanswered for tens of seconds, and with the device defaults (30 s keep-alive, 10 s
      // connect timeout) every device would then reconnect at once, which costs it more still.
      broker: { ...aws.mqtt, ca, keepaliveSeconds: 300, connectTimeoutMs: 60_000 },
      // A job handed to a thousand devices at once keeps it busy for tens of seconds: devices
      // that asked for it then would ask again every 15 s (the agent's default) and add to that.
      requestTimeoutMs: 60_000,
      size: options.fleetSize,
      hardwareTypes: FLEET_HARDWARE,
      firmwareVersion: '1.0.0',
      credentialsDir: join(RUNTIME_DIR, 'fleet'),
      // Local AWS on a loaded machine answers RegisterDevice slowly: a few at a time, with backoff.
      registration: {
        concurrency: 4,
        onRetry: (notice) => log(`  ${describeRetry(notice)}`),
      },
      ota: {
        stateDir,
        ...(options.faultMix ? { mix: options.faultMix } : {}),
        timeFactor: options.timeFactor ?? 0.2,
        // Devices run release 1.0.0's image, so a rollout to 1.1.0 can ship them deltas.
        factoryImage: (hw) => firmwareImage(hw, '1.0.0'),
        // Local AWS serves presigned URLs over plain http.
        allowPlainHttp: true,
      },
      ...(options.telemetry === false
        ? {}
        : {
            telemetry: {
              stateDir: join(RUNTIME_DIR, 'fleet-telemetry'),
              windowSeconds: 60,
              sampleEverySeconds: 5,
              sendEverySeconds: 60,
              ...options.telemetry,
            },
          }),
    });
    await fleet.start(signal ? { signal } : {});
    // Reports reach the registry through a queue: wait until it knows every device's firmware,
    // so a rollout planned now knows what each device runs (deltas, rollback).
    await step(untilRegistryKnowsFirmware(api, options.fleetSize, signal));
    const every = options.analyzeEverySeconds ?? 60;
    if (every > 0) analysis = analyzeFleetEvery(aws, stack.outputs.FleetAnalysisStateMachineArn, every, log);
    return { aws, stack, api, tokenFile, fleet, stop };
  } catch (error) {
    await stop();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Starts the fleet analysis (`<stack>-fleet-analysis`) now and every `seconds`, as the aws
 * stage's schedule does; a start that fails is logged and the next one tried.
 */
function analyzeFleetEvery(
  aws: LocalAws,
  stateMachineArn: string,
  seconds: number,
  log: (line: string) => void,
) {
  const sfn = new SFNClient(localClientConfig(aws));
  const start = () =>
    sfn
      .send(new StartExecutionCommand({ stateMachineArn, input: '{}' }))
      .catch((error: Error) => log(`Fleet analysis did not start: ${error.message}`));
  void start();
  const timer = setInterval(start, seconds * 1000);
  timer.unref();
  return timer;
}

/** Resolves once `count` registered devices show a firmware version; gives up after `timeoutMs`. */
async function untilRegistryKnowsFirmware(
  api: OperatorApiClient,
  count: number,
  signal: AbortSignal | undefined,
  timeoutMs = 180_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let known = 0;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    known = 0;
    let cursor: string | null = null;
    do {
      const query: string = `devices?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await api.request<{ items: { firmwareVersion?: string }[]; nextCursor: string | null }>(
        'GET',
        query,
      );
      known += page.body.items.filter((d) => d.firmwareVersion).length;
      cursor = page.body.nextCursor;
    } while (cursor);
    if (known >= count) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `Only ${known} of ${count} devices' firmware reports reached the registry in ${timeoutMs / 1000} s`,
  );
}
