/**
 * The real `edgeops` CLI as a child process (cli/edgeops.js, as `npx edgeops` runs it) against the
 * stack deployed into local AWS: sign in with Cognito, list devices, upload an artifact with its
 * progress, plan and apply a rollout spec, and watch a rollout that halts.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig, PROJECT_DIR, RUNTIME_DIR } from '../../scripts/local-aws/ministack';
import { createOperator } from '../../scripts/local-aws/operators';
import { publishRelease } from '../../scripts/local-aws/releases';
import type { FaultProfile } from '../../simulator/fault-profiles';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

const HARDWARE = ['rpi4', 'jetson-nano'];
const SITES = ['north', 'south', 'east'];
const configDir = mkdtempSync(join(tmpdir(), 'edgeops-cli-e2e-'));
const workDir = mkdtempSync(join(tmpdir(), 'edgeops-cli-e2e-files-'));
const stateDirs: string[] = [];
const fleets: FleetSimulator[] = [];
let operator: { username: string; password: string };

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `edgeops <args>` with its own config folder; `stdin` is written and closed. */
function edgeops(args: readonly string[], stdin = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(PROJECT_DIR, 'cli', 'edgeops.js'), ...args], {
      cwd: PROJECT_DIR,
      env: { PATH: process.env.PATH, HOME: workDir, EDGEOPS_CONFIG_DIR: configDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const expectOk = (run: CliRun) => {
  expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
  return run;
};

/** `ota` overrides how fast simulated devices download, install and boot. */
async function startFleet(
  size: number,
  profiles: (hardwareType: string) => FaultProfile = () => 'healthy',
  ota: { timeFactor?: number; slowLinkBytesPerSecond?: number } = {},
) {
  const prefix = uniqueId('cli');
  const region = uniqueId('region');
  const byDevice: Record<string, FaultProfile> = {};
  for (let i = 0; i < size; i++)
    byDevice[`${prefix}-${String(i + 1).padStart(4, '0')}`] = profiles(
      HARDWARE[Math.floor(i / SITES.length) % HARDWARE.length] as string,
    );
  const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-cli-e2e-fleet-'));
  stateDirs.push(stateDir);
  const fleet = new FleetSimulator({
    api: api('operator'),
    broker: context().mqtt,
    size,
    prefix,
    region,
    sites: SITES,
    hardwareTypes: HARDWARE,
    firmwareVersion: '1.0.0',
    ota: { stateDir, profiles: byDevice, timeFactor: 0.05, allowPlainHttp: true, ...ota },
  });
  fleets.push(fleet);
  await fleet.start();
  const deviceIds = Object.keys(byDevice);
  // A rollout planned before a device's report arrived would not know what it runs.
  await eventually(async () => {
    const versions = await Promise.all(
      deviceIds.map(async (id) => (await api('viewer').getDevice(id)).firmwareVersion),
    );
    return versions.every((v) => v === '1.0.0') ? true : undefined;
  }, 60_000);
  return { region, deviceIds };
}

const specFor = (region: string, name: string, waves: string) => {
  const file = join(workDir, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: edgeops/v1
kind: Rollout
name: ${name}
release: rel-1.1.0
target:
  filter: { region: ${region} }
waves:
${waves}
policies:
  failurePolicy: halt
`,
  );
  return file;
};

const rolloutCount = async () =>
  (await api('viewer').request<{ items: unknown[] }>('GET', 'rollouts?limit=100')).body.items.length;

beforeAll(async () => {
  const cognito = new CognitoIdentityProviderClient(localClientConfig(context()));
  operator = await createOperator(context().outputs, uniqueId('e2e-cli'), 'operator', cognito);
  await publishRelease(api('operator'), '1.0.0', HARDWARE);
  await publishRelease(api('operator'), '1.1.0', HARDWARE);
  const { apiUrl, outputs, endpoint } = context();
  // With the pool id, login signs in with SRP (the password never leaves the CLI).
  const login = await edgeops(
    [
      ...[
        'login',
        '--api-url',
        apiUrl,
        '--client-id',
        outputs.UserPoolClientId,
        '--user-pool-id',
        outputs.UserPoolId,
      ],
      ...['--cognito-endpoint', endpoint, '--username', operator.username, '--password-stdin'],
    ],
    `${operator.password}\n`,
  );
  expectOk(login);
});

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
});

afterAll(() => {
  for (const dir of [configDir, workDir, ...stateDirs]) rmSync(dir, { recursive: true, force: true });
});

describe('edgeops CLI against local AWS', () => {
  it('signed in with Cognito: tokens kept 0600, and an expired ID token is refreshed', async () => {
    const tokensFile = join(configDir, 'tokens', 'default.json');
    expect(statSync(tokensFile).mode & 0o777).toBe(0o600);
    const before = JSON.parse(readFileSync(tokensFile, 'utf8'));
    writeFileSync(
      tokensFile,
      JSON.stringify({ ...before, idTokenExpiresAt: new Date(Date.now() - 1000).toISOString() }),
      {
        mode: 0o600,
      },
    );

    const whoami = JSON.parse(expectOk(await edgeops(['whoami', '--json'])).stdout);

    expect(whoami).toMatchObject({ username: operator.username, groups: ['operator'] });
    const after = JSON.parse(readFileSync(tokensFile, 'utf8'));
    expect(after.idToken).not.toBe(before.idToken);
    expect(new Date(after.idTokenExpiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(after.refreshToken).toBe(before.refreshToken);
  });

  it('signs in with USER_PASSWORD_AUTH too, and refuses a wrong password with exit 3 and one line', async () => {
    const { apiUrl, outputs, endpoint } = context();
    const login = (profile: string, password: string) =>
      edgeops(
        [
          ...['--profile', profile, 'login', '--api-url', apiUrl, '--client-id', outputs.UserPoolClientId],
          ...['--region', 'us-east-1', '--cognito-endpoint', endpoint, '--auth-flow', 'password'],
          ...['--username', operator.username, '--password-stdin'],
        ],
        `${password}\n`,
      );

    expectOk(await login('plain', operator.password));
    const who = JSON.parse(expectOk(await edgeops(['--profile', 'plain', 'whoami', '--json'])).stdout);
    expect(who.username).toBe(operator.username);

    const wrong = await login('wrong', 'not-the-password');
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^edgeops: sign-in refused: .*\(NotAuthorizedException\)\n$/);
  });

  it('refuses a wrong password over SRP too', async () => {
    const { apiUrl, outputs, endpoint } = context();
    const run = await edgeops(
      [
        ...['--profile', 'wrong-srp', 'login', '--api-url', apiUrl, '--client-id', outputs.UserPoolClientId],
        ...['--user-pool-id', outputs.UserPoolId, '--cognito-endpoint', endpoint],
        ...['--username', operator.username, '--password-stdin'],
      ],
      'not-the-password\n',
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^edgeops: sign-in refused: .*\(NotAuthorizedException\)\n$/);
  });

  it('lists devices as JSON, filtered by region', async () => {
    const { region, deviceIds } = await startFleet(3);

    const run = expectOk(await edgeops(['devices', 'list', '--region', region, '--json']));

    const listed = JSON.parse(run.stdout) as { items: { deviceId: string; firmwareVersion: string }[] };
    expect(listed.items.map((d) => d.deviceId).sort()).toEqual(deviceIds);
    expect(listed.items.every((d) => d.firmwareVersion === '1.0.0')).toBe(true);
  });

  it('uploads an artifact in parts with a progress bar; the backend measures the same SHA-256', async () => {
    // Above the local stage's 8 MiB multipart threshold: two parts.
    const bytes = randomBytes(10 * 1024 * 1024 + 12_345);
    const file = join(workDir, 'firmware.bin');
    writeFileSync(file, bytes);

    const run = expectOk(
      await edgeops([
        'artifacts',
        'upload',
        file,
        '--hardware-type',
        'rpi4',
        '--version',
        uniqueId('9.0'),
        '--json',
      ]),
    );

    const artifact = JSON.parse(run.stdout);
    expect(artifact).toMatchObject({ status: 'ready', size: bytes.length });
    expect(artifact.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(run.stderr).toContain('2 parts');
    const progress = run.stderr.split('\n').filter((line) => line.startsWith('['));
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress.at(-1)).toMatch(/100% {2}10\.0 MiB of 10\.0 MiB/);
  }, 180_000);

  it('plans a spec without writing, then applies it once; a second apply starts nothing', async () => {
    const { region, deviceIds } = await startFleet(6);
    const spec = specFor(
      region,
      'cli-plan-apply',
      '  - { count: 2, soakSeconds: 1 }\n  - { percent: 100, soakSeconds: 1 }',
    );
    const before = await rolloutCount();

    const plan = expectOk(await edgeops(['plan', spec, '--show', '10']));

    expect(await rolloutCount()).toBe(before);
    expect(plan.stdout).toMatch(/wave 1 +2 devices/);
    expect(plan.stdout).toMatch(/wave 2 +4 devices/);
    for (const id of deviceIds) expect(plan.stdout).toContain(id);
    expect(plan.stdout).toContain('Apply would start one rollout: 6 devices to 1.1.0 in 2 wave(s).');

    const applied = JSON.parse(expectOk(await edgeops(['apply', spec, '--json'])).stdout);
    expect(applied.started).toBe(true);
    const again = JSON.parse(expectOk(await edgeops(['apply', spec, '--json'])).stdout);
    expect(again).toMatchObject({ started: false, rollout: { rolloutId: applied.rollout.rolloutId } });
    expect(await rolloutCount()).toBe(before + 1);

    const watched = await edgeops(['rollouts', 'watch', applied.rollout.rolloutId, '--interval', '1']);
    expect(watched.code, watched.stdout).toBe(0);
    expect(watched.stdout).toContain('Succeeded: 6 devices on 1.1.0.');

    // The audit trail names who started it, with the request id.
    const audit = JSON.parse(
      expectOk(await edgeops(['audit', '--rollout', applied.rollout.rolloutId, '--json'])).stdout,
    ) as { items: { actor: { username: string }; method: string; route: string; requestId: string }[] };
    expect(audit.items).toContainEqual(
      expect.objectContaining({
        actor: expect.objectContaining({ username: operator.username }),
        method: 'POST',
        route: '/rollouts',
        requestId: expect.any(String),
      }),
    );
  }, 300_000);

  it('watches a rollout that halts: exit 1, the halt reason and the failing devices named', async () => {
    // The rpi4s download slowly (48 KiB at ~8 KB/s), so the watch sees the wave move while the
    // jetson-nanos fail their health check.
    const { region, deviceIds } = await startFleet(
      6,
      (hardware) => (hardware === 'jetson-nano' ? 'unhealthy-after-boot' : 'slow-link'),
      { timeFactor: 0.3, slowLinkBytesPerSecond: 2400 },
    );
    // A canary of 4 covers 4 of the 6 hardware type × site strata: at least one jetson-nano.
    const spec = specFor(
      region,
      'cli-halting',
      '  - { count: 4, soakSeconds: 1, maxFailures: 0 }\n  - { percent: 100, soakSeconds: 1 }',
    );
    const applied = JSON.parse(expectOk(await edgeops(['apply', spec, '--json'])).stdout);
    const rolloutId = applied.rollout.rolloutId as string;

    const watched = await edgeops(['rollouts', 'watch', rolloutId, '--interval', '1']);

    expect(watched.code, watched.stderr).toBe(1);
    expect(watched.stdout).toMatch(
      /^Halted: Wave 1: \d+ device\(s\) failed, more than the 0 allowed \(cli-/m,
    );
    const unhealthy = deviceIds.filter(
      (_, i) => HARDWARE[Math.floor(i / SITES.length) % HARDWARE.length] === 'jetson-nano',
    );
    const named = unhealthy.filter((id) => watched.stdout.includes(id));
    expect(named.length).toBeGreaterThan(0);
    expect(watched.stdout).toMatch(/Devices that did not take 1\.1\.0:\n {2}cli-\S+ {2}(failed|rolled-back)/);
    // Kept for whoever reads the run; EDGEOPS_CLI_WATCH_DOC=1 refreshes the copy in docs/ too.
    const transcript = `$ edgeops rollouts watch ${rolloutId}\n${watched.stdout}$ echo $?\n${watched.code}\n`;
    writeFileSync(join(RUNTIME_DIR, 'cli-watch-halted.txt'), transcript);
    if (process.env.EDGEOPS_CLI_WATCH_DOC === '1')
      writeFileSync(join(PROJECT_DIR, 'docs', 'cli-watch-halted.txt'), transcript);

    const status = await edgeops(['rollouts', 'status', rolloutId, '--json']);
    const halted = JSON.parse(expectOk(status).stdout);
    expect(halted).toMatchObject({ rolloutId, status: 'halted' });
    // The second wave never started.
    expect(halted.waves[1]).toMatchObject({ jobId: null });
  }, 300_000);

  it('reads the trust root, and refuses the admin-only online keys to an operator with exit 3', async () => {
    const root = JSON.parse(expectOk(await edgeops(['trust', 'root', '--json'])).stdout);
    expect(root.signed._type).toBe('root');
    expect(root.signed.version).toBeGreaterThanOrEqual(1);

    const keys = await edgeops(['trust', 'online-keys']);
    expect(keys.code).toBe(3);
    expect(keys.stderr).toMatch(/^edgeops: not allowed \(403\): .*admin.*\n$/);
  });

  it('refuses a spec with a bad value, naming the field, before calling the API', async () => {
    const spec = specFor('nowhere', 'cli-bad', '  - { count: 2 }\n  - { percent: 130 }');
    const run = await edgeops(['plan', spec]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/waves\[1\]\.percent \(line 9\): percent must be at most 100\n$/);
    expect(run.stdout).toBe('');
  });
});
