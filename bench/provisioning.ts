/**
 * Provisioning by claim against local AWS: N factory-fresh devices (default 300), C at a time
 * (default 24), each making its key and CSR, CreateCertificateFromCsr, RegisterThing (through the
 * pre-provisioning hook Lambda) and the first hello on its own identity (through the hello rule,
 * queue and Lambda), exactly as device/identity/claim-provisioning.ts does on a gateway. Prints
 * devices provisioned per minute, and where the time goes: per step, the median and 95th
 * percentile, and the CPU seconds of MiniStack, its Lambda workers and this process (the devices).
 *
 * Run: `npm run bench -- provisioning 300 --concurrency=24` (opt-in: it deploys the stack first).
 * Ctrl-C stops everything it started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { MqttJsConnection } from '../device/cloud/mqtt-js-connection';
import { type ClaimStep, provisionByClaim } from '../device/identity/claim-provisioning';
import { OperatorApiClient } from '../operator-client/operator-api-client';
import { createClaimCertificate } from '../scripts/local-aws/claim-certificate';
import { deployStack } from '../scripts/local-aws/deploy';
import { localClientConfig, startLocalAws } from '../scripts/local-aws/ministack';
import { createOperator } from '../scripts/local-aws/operators';
import { shutdownOnSignals } from '../scripts/local-aws/shutdown';
import { cpuSecondsOf, memoryOf } from './local-aws-figures';

const args = process.argv.slice(2);
const size = Number(args.find((a) => /^\d+$/.test(a)) ?? 300);
const concurrency = Number(args.find((a) => a.startsWith('--concurrency='))?.split('=')[1] ?? 24);
const started = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const shutdown = shutdownOnSignals(log);

/** The steps a device goes through, in order; each is timed from the end of the one before. */
const STEPS: readonly ClaimStep[] = ['connected', 'csr', 'certificate', 'registered', 'committed', 'hello'];
const STEP_NAMES: Record<ClaimStep, string> = {
  connected: 'key + claim connect (TLS)',
  csr: 'CSR (openssl req)',
  certificate: 'CreateCertificateFromCsr',
  registered: 'RegisterThing (hook Lambda + template)',
  committed: 'commit identity (files)',
  hello: 'reconnect + hello (rule, SQS, Lambda)',
};

const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

const aws = await startLocalAws({ log, signal: shutdown.signal });
const dir = mkdtempSync(join(tmpdir(), 'edgeops-bench-claim-'));
let exitCode = 0;
try {
  log('Deploying the stack into local AWS ...');
  const stack = await deployStack(aws, { log: () => {}, signal: shutdown.signal });
  const outputs = stack.outputs as unknown as Record<string, string>;
  const admin = await createOperator(
    stack.outputs,
    'bench-admin',
    'admin',
    new CognitoIdentityProviderClient(localClientConfig(aws)),
  );
  const api = new OperatorApiClient(stack.apiUrl, admin.idToken);
  const ca = await (await fetch(`${aws.endpoint}/_ministack/iot/ca.pem`)).text();
  const broker = { ...aws.mqtt, ca, keepaliveSeconds: 300, connectTimeoutMs: 60_000 };
  const serials = Array.from({ length: size }, (_, i) => `bench-${String(i + 1).padStart(6, '0')}`);

  const uploadStarted = Date.now();
  for (let i = 0; i < serials.length; i += 500) {
    const entries = serials
      .slice(i, i + 500)
      .map((serial, j) => ({ serial, site: `site-${(i + j) % 20}`, region: 'eu-west', hardwareType: 'gw' }));
    const { status, body } = await api.request('PUT', 'provisioning/allowlist', { entries });
    if (status !== 200) throw new Error(`allowlist upload: ${status} ${JSON.stringify(body)}`);
  }
  const uploadSeconds = (Date.now() - uploadStarted) / 1000;
  log(
    `Allowlist of ${size} uploaded in ${uploadSeconds.toFixed(1)} s; provisioning ${concurrency} at a time ...`,
  );
  const claim = await createClaimCertificate(aws, outputs.ClaimPolicyName ?? '');

  const durations: Record<ClaimStep, number[]> = {
    connected: [],
    csr: [],
    certificate: [],
    registered: [],
    committed: [],
    hello: [],
  };
  const failures: string[] = [];
  const cpuBefore = cpuSecondsOf(aws.processes());
  const ownCpuBefore = process.cpuUsage();
  let peakWorkersMb = 0;
  const sampler = setInterval(() => {
    peakWorkersMb = Math.max(peakWorkersMb, memoryOf(aws.processes()).workers);
  }, 1000);
  const runStarted = Date.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < serials.length && !shutdown.signal.aborted) {
      const serial = serials[next++] as string;
      let last = Date.now();
      try {
        await provisionByClaim({
          serial,
          templateName: outputs.ProvisioningTemplateName ?? '',
          claim: { certificatePem: claim.certificatePem, privateKey: claim.privateKey },
          certificatePath: join(dir, serial, 'device.crt'),
          privateKeyPath: join(dir, serial, 'device.key'),
          stateDir: join(dir, serial, 'state'),
          connect: (identity) =>
            new MqttJsConnection(
              {
                deviceId: identity.clientId,
                certificatePem: identity.certificatePem,
                privateKey: identity.privateKey,
              },
              broker,
            ),
          answerTimeoutMs: 60_000,
          durability: { fsync: false },
          onStep: (step) => {
            const now = Date.now();
            durations[step].push(now - last);
            last = now;
          },
        });
      } catch (error) {
        failures.push(`${serial}: ${(error as Error).message}`);
      }
      if (++done % 50 === 0) log(`  ${done} of ${size}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, size) }, worker));
  clearInterval(sampler);
  const seconds = (Date.now() - runStarted) / 1000;
  const cpuAfter = cpuSecondsOf(aws.processes());
  const ownCpu = process.cpuUsage(ownCpuBefore);
  const provisioned = size - failures.length;

  console.log(
    `\nProvisioning by claim, ${size} devices, ${concurrency} at a time (2 cores; local AWS = MiniStack)`,
  );
  console.table([
    { figure: 'devices provisioned', value: provisioned },
    { figure: 'failures', value: failures.length },
    { figure: 'wall time (s)', value: Number(seconds.toFixed(1)) },
    { figure: 'devices per minute', value: Math.round((provisioned / seconds) * 60) },
    { figure: 'allowlist upload, 500 per request (s)', value: Number(uploadSeconds.toFixed(1)) },
    { figure: 'MiniStack CPU (s)', value: Number((cpuAfter.emulator - cpuBefore.emulator).toFixed(1)) },
    {
      figure: 'Lambda worker CPU, live workers (s)',
      value: Number((cpuAfter.workers - cpuBefore.workers).toFixed(1)),
    },
    {
      figure: 'devices (this process) CPU (s)',
      value: Number(((ownCpu.user + ownCpu.system) / 1e6).toFixed(1)),
    },
    { figure: 'peak RSS, Lambda workers (MB)', value: Math.round(peakWorkersMb) },
  ]);
  console.table(
    STEPS.map((step) => ({
      step: STEP_NAMES[step],
      'p50 (ms)': percentile(durations[step], 50),
      'p95 (ms)': percentile(durations[step], 95),
      'total (device-s)': Number((durations[step].reduce((a, b) => a + b, 0) / 1000).toFixed(1)),
    })),
  );
  if (failures.length > 0) console.log(`First failures:\n  ${failures.slice(0, 5).join('\n  ')}`);
} catch (error) {
  if (!shutdown.signal.aborted) console.error(error);
  exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
  await aws.stop();
}
process.exit(exitCode);
