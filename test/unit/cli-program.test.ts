import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExitCode } from '../../cli/errors';
import { API_URL, fakeCli, temporaryDir } from './cli-fixtures';

afterEach(() => {
  vi.unstubAllGlobals();
});

const specFile = (text: string) => {
  const file = join(temporaryDir('edgeops-spec-'), 'rollout.yaml');
  writeFileSync(file, text);
  return file;
};

const SPEC = `apiVersion: edgeops/v1
kind: Rollout
name: eu-west-1.1.0
release: rel-1.1.0
target: { filter: { region: eu-west } }
waves:
  - { count: 2, soakSeconds: 60 }
  - { percent: 100, soakSeconds: 60, successThreshold: 95, maxFailures: 1 }
policies: { failurePolicy: rollback }
`;

const PREVIEW = {
  releaseId: 'rel-1.1.0',
  version: '1.1.0',
  waves: [
    { wave: 1, deviceIds: ['sim-0001', 'sim-0002'] },
    { wave: 2, deviceIds: ['sim-0003', 'sim-0004', 'sim-0005'] },
  ],
  excluded: [{ deviceId: 'sim-0009', reason: 'release has no artifact for hardware type toaster' }],
  strata: { total: 2, coveredByCanary: 2 },
};

const rolloutView = (status: string, extra: Record<string, unknown> = {}) => ({
  rolloutId: 'ro-0123456789ab',
  releaseId: 'rel-1.1.0',
  version: '1.1.0',
  status,
  haltReason: null,
  currentWave: 1,
  target: { filter: { region: 'eu-west' } },
  createdAt: '2026-11-28T09:00:00Z',
  waves: [{ wave: 1, status: 'running', deviceCount: 2, funnel: { queued: 2 } }],
  ...extra,
});

describe('edgeops help text', () => {
  it('lists every command group and the exit codes', async () => {
    const cli = await fakeCli();
    expect(await cli.run('--help')).toBe(ExitCode.ok);
    const help = cli.stdout();
    for (const command of [
      'login',
      'logout',
      'devices',
      'artifacts',
      'releases',
      'rollouts',
      'plan',
      'apply',
      'trust',
    ])
      expect(help).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(help).toContain('--json');
    expect(help).toMatch(/^ {2}3 {4}auth: not signed in/m);
    expect(help).toContain('EDGEOPS_CONFIG_DIR');
  });

  it('lists the rollout subcommands', async () => {
    const cli = await fakeCli();
    expect(await cli.run('rollouts', '--help')).toBe(ExitCode.ok);
    for (const sub of [
      'list',
      'preview',
      'start',
      'status',
      'devices',
      'pause',
      'resume',
      'approve',
      'abort',
      'rollback',
      'watch',
    ])
      expect(cli.stdout()).toMatch(new RegExp(`^  ${sub}\\b`, 'm'));
  });

  it('explains what watch prints and how it exits', async () => {
    const cli = await fakeCli();
    expect(await cli.run('rollouts', 'watch', '--help')).toBe(ExitCode.ok);
    expect(cli.stdout()).toContain('Usage: edgeops rollouts watch [options] <rolloutId>');
    expect(cli.stdout()).toContain('exit 0 if it succeeded, 1 if it halted');
    expect(cli.stdout()).toContain('--interval <seconds>');
  });

  it('shows the spec format in the help of plan and apply', async () => {
    const cli = await fakeCli();
    expect(await cli.run('apply', '--help')).toBe(ExitCode.ok);
    expect(cli.stdout()).toContain('apiVersion: edgeops/v1');
    expect(cli.stdout()).toContain('Idempotent by release and target');
  });

  it('lists the trust ceremony commands', async () => {
    const cli = await fakeCli();
    expect(await cli.run('trust', '--help')).toBe(ExitCode.ok);
    for (const sub of ['keygen', 'init', 'rotate-root', 'rotate-online', 'root', 'online-keys'])
      expect(cli.stdout()).toMatch(new RegExp(`^  ${sub}\\b`, 'm'));
  });
});

describe('edgeops argument parsing', () => {
  it.each([
    [['devcies', 'list'], /unknown command 'devcies'/],
    [['devices', 'list', '--limit', '500'], /--limit <n>.*from 1 to 100/],
    [['devices', 'list', '--health', 'great'], /--health.*great.*healthy/],
    [['devices', 'show'], /missing required argument 'deviceId'/],
    [['rollouts', 'watch', 'ro-1', '--interval', 'soon'], /--interval/],
    [['artifacts', 'upload', 'f.bin', '--version', '1'], /--hardware-type/],
  ])('refuses %j with exit 2 and one line naming the problem', async (argv, problem) => {
    const cli = await fakeCli();
    expect(await cli.run(...argv)).toBe(ExitCode.usage);
    const lines = cli.stderr().trim().split('\n');
    expect(lines[0]).toMatch(problem);
    expect(cli.stderr()).not.toMatch(/\n\s+at /);
    expect(cli.stdout()).toBe('');
  });

  it('exits 2 for a command group without its subcommand', async () => {
    const cli = await fakeCli();
    expect(await cli.run('rollouts')).toBe(ExitCode.usage);
  });

  it('takes --json before or after the subcommand', async () => {
    const routes = [() => ({ status: 200, body: { items: [], nextCursor: null } })];
    const before = await fakeCli({ routes });
    await before.run('--json', 'devices', 'list');
    const after = await fakeCli({ routes });
    await after.run('devices', 'list', '--json');
    expect(JSON.parse(before.stdout())).toEqual({ items: [], nextCursor: null });
    expect(JSON.parse(after.stdout())).toEqual({ items: [], nextCursor: null });
  });
});

describe('edgeops devices', () => {
  const device = {
    deviceId: 'sim-0001',
    hardwareType: 'rpi4',
    site: 'plant-a',
    region: 'eu-west',
    registeredAt: '2026-11-01T00:00:00Z',
    certificateId: 'c1',
    firmwareVersion: '1.0.0',
    lastSeenAt: '2026-11-28T09:59:00Z',
    connection: { state: 'connected', changedAt: null },
    health: 'healthy',
  };

  it('sends the filters as GET /devices takes them, with the saved token', async () => {
    const cli = await fakeCli({
      routes: [() => ({ status: 200, body: { items: [device], nextCursor: null } })],
    });
    const code = await cli.run(
      'devices',
      'list',
      '--site',
      'plant-a',
      '--hardware-type',
      'rpi4',
      '--connection-state',
      'connected',
      '--anomalous',
      '--limit',
      '5',
    );
    expect(code).toBe(ExitCode.ok);
    expect(cli.requests[0]?.path).toBe(
      'devices?site=plant-a&hardwareType=rpi4&connectionState=connected&anomalous=true&limit=5',
    );
    expect(cli.requests[0]?.authorization).toMatch(/^ey/);
    expect(cli.stdout()).toMatch(/^DEVICE +HARDWARE/m);
    expect(cli.stdout()).toMatch(/^sim-0001 +rpi4 +plant-a +eu-west +1\.0\.0 +connected +healthy/m);
  });

  it('follows the cursor with --all', async () => {
    const cli = await fakeCli({
      routes: [
        ({ path }) =>
          path.includes('cursor=c2')
            ? { status: 200, body: { items: [{ ...device, deviceId: 'sim-0002' }], nextCursor: null } }
            : { status: 200, body: { items: [device], nextCursor: 'c2' } },
      ],
    });
    await cli.run('--json', 'devices', 'list', '--all');
    expect(JSON.parse(cli.stdout()).items.map((d: { deviceId: string }) => d.deviceId)).toEqual([
      'sim-0001',
      'sim-0002',
    ]);
    expect(cli.requests).toHaveLength(2);
  });

  it('prints only JSON on stdout with --json', async () => {
    const cli = await fakeCli({ routes: [() => ({ status: 200, body: device })] });
    expect(await cli.run('devices', 'show', 'sim-0001', '--json')).toBe(ExitCode.ok);
    expect(JSON.parse(cli.stdout())).toEqual(device);
  });

  it('exits 4 with one line when the device does not exist', async () => {
    const cli = await fakeCli({
      routes: [() => ({ status: 404, body: { message: 'Device ghost not found' } })],
    });
    expect(await cli.run('devices', 'show', 'ghost')).toBe(ExitCode.notFound);
    expect(cli.stderr()).toBe('edgeops: not found (404): Device ghost not found\n');
  });

  it('exits 2 naming the fields the API refused', async () => {
    const cli = await fakeCli({
      routes: [
        () => ({
          status: 400,
          body: { message: 'Invalid query', errors: [{ field: 'site', message: 'too long' }] },
        }),
      ],
    });
    expect(await cli.run('devices', 'list', '--site', 'x')).toBe(ExitCode.usage);
    expect(cli.stderr()).toBe('edgeops: refused (400): Invalid query (site: too long)\n');
  });

  it('exits 3 when the API refuses the caller', async () => {
    const cli = await fakeCli({
      routes: [() => ({ status: 403, body: { message: "This action needs the 'operator' role" } })],
    });
    expect(await cli.run('rollouts', 'pause', 'ro-0123456789ab')).toBe(ExitCode.auth);
    expect(cli.stderr()).toContain("not allowed (403): This action needs the 'operator' role");
  });

  it('exits 1 on a server failure, and shows a stack only with EDGEOPS_DEBUG=1', async () => {
    const quiet = await fakeCli({
      routes: [() => ({ status: 500, body: { message: 'Internal server error' } })],
    });
    expect(await quiet.run('devices', 'list')).toBe(ExitCode.failure);
    expect(quiet.stderr().trim().split('\n')).toHaveLength(1);
    vi.unstubAllGlobals();

    const debug = await fakeCli({ env: { EDGEOPS_DEBUG: '1' } });
    vi.stubGlobal('fetch', () => Promise.reject(new Error('socket hang up')));
    expect(await debug.run('devices', 'list')).toBe(ExitCode.failure);
    expect(debug.stderr()).toMatch(/^edgeops: socket hang up\nError: socket hang up\n\s+at /);
  });

  it('says how to sign in, with exit 3, when there is no login', async () => {
    const cli = await fakeCli({ signedIn: false });
    expect(await cli.run('devices', 'list')).toBe(ExitCode.auth);
    expect(cli.stderr()).toMatch(/not signed in.*edgeops login --api-url/);
    expect(cli.requests).toHaveLength(0);
  });

  it('uses EDGEOPS_TOKEN and EDGEOPS_API_URL instead of a login', async () => {
    const cli = await fakeCli({
      signedIn: false,
      env: { EDGEOPS_TOKEN: 'token-from-env', EDGEOPS_API_URL: API_URL.slice(0, -1) },
      routes: [() => ({ status: 200, body: { items: [], nextCursor: null } })],
    });
    expect(await cli.run('devices', 'list')).toBe(ExitCode.ok);
    expect(cli.requests[0]?.authorization).toBe('token-from-env');
  });
});

describe('edgeops rollouts', () => {
  it.each(['pause', 'resume', 'approve', 'abort'])(
    '%s posts the control and prints the new status',
    async (action) => {
      const cli = await fakeCli({
        routes: [
          ({ method }) => (method === 'POST' ? { status: 200, body: rolloutView('pausing') } : undefined),
        ],
      });
      expect(await cli.run('rollouts', action, 'ro-0123456789ab')).toBe(ExitCode.ok);
      expect(cli.requests[0]).toMatchObject({ method: 'POST', path: `rollouts/ro-0123456789ab/${action}` });
      expect(cli.stdout()).toBe('ro-0123456789ab: pausing\n');
    },
  );

  it('exits 1 when a control is refused for the rollout state (409)', async () => {
    const cli = await fakeCli({
      routes: [() => ({ status: 409, body: { message: 'Rollout ro-0123456789ab is succeeded' } })],
    });
    expect(await cli.run('rollouts', 'resume', 'ro-0123456789ab')).toBe(ExitCode.failure);
    expect(cli.stderr()).toBe('edgeops: conflict (409): Rollout ro-0123456789ab is succeeded\n');
  });

  it('rollback expects 202 and names the rollback rollouts', async () => {
    const cli = await fakeCli({
      routes: [
        () => ({
          status: 202,
          body: {
            rollouts: [rolloutView('running', { rolloutId: 'ro-aaaaaaaaaaaa', releaseId: 'rel-1.0.0' })],
            skipped: [],
          },
        }),
      ],
    });
    expect(await cli.run('rollouts', 'rollback', 'ro-0123456789ab')).toBe(ExitCode.ok);
    expect(cli.stdout()).toContain('Started rollback ro-aaaaaaaaaaaa to rel-1.0.0 (2 devices)');
  });

  it('watch ends with exit 1 and the halt reason naming the devices', async () => {
    const states = [
      rolloutView('running'),
      rolloutView('halted', {
        haltReason: 'Wave 1: 1 device(s) failed, more than the 0 allowed (sim-0002)',
        waves: [{ wave: 1, status: 'failed', deviceCount: 2, funnel: { healthy: 1, 'rolled-back': 1 } }],
      }),
    ];
    const cli = await fakeCli({
      routes: [
        ({ path }) =>
          path.includes('/devices?stage=rolled-back')
            ? {
                status: 200,
                body: {
                  items: [
                    { deviceId: 'sim-0002', stage: 'rolled-back', wave: 1, reason: 'health-check-failed' },
                  ],
                },
              }
            : path.includes('/devices?stage=failed')
              ? { status: 200, body: { items: [] } }
              : { status: 200, body: states.length > 1 ? states.shift() : states[0] },
      ],
    });
    expect(await cli.run('rollouts', 'watch', 'ro-0123456789ab', '--interval', '1')).toBe(ExitCode.failure);
    const out = cli.stdout();
    expect(out).toMatch(/rollout ro-0123456789ab .* running/);
    expect(out).toContain('Halted: Wave 1: 1 device(s) failed, more than the 0 allowed (sim-0002)');
    expect(out).toMatch(/^ {2}sim-0002 {2}rolled-back {2}wave 1 {2}health-check-failed$/m);
  });

  it('watch exits 0 when the rollout succeeds, and --json prints the end state alone', async () => {
    const done = rolloutView('succeeded', {
      waves: [{ wave: 1, status: 'passed', deviceCount: 2, funnel: { healthy: 2 } }],
    });
    const cli = await fakeCli({
      routes: [
        ({ path }) =>
          path.includes('/devices?') ? { status: 200, body: { items: [] } } : { status: 200, body: done },
      ],
    });
    expect(await cli.run('--json', 'rollouts', 'watch', 'ro-0123456789ab')).toBe(ExitCode.ok);
    expect(JSON.parse(cli.stdout())).toMatchObject({
      outcome: 'succeeded',
      rollout: { rolloutId: 'ro-0123456789ab' },
      failedDevices: [],
    });
  });
});

describe('edgeops plan and apply', () => {
  const api = (active: unknown[] = []) => [
    ({ method, path }: { method: string; path: string }) =>
      method === 'POST' && path === 'rollouts/preview' ? { status: 200, body: PREVIEW } : undefined,
    ({ method, path }: { method: string; path: string }) =>
      method === 'GET' && path.startsWith('rollouts?')
        ? { status: 200, body: { items: active, nextCursor: null } }
        : undefined,
    ({ method, path }: { method: string; path: string }) =>
      method === 'POST' && path === 'rollouts'
        ? { status: 201, body: { rollout: rolloutView('running'), excluded: [] } }
        : undefined,
  ];

  it('plan shows each wave with its devices and rules, and writes nothing', async () => {
    const cli = await fakeCli({ routes: api() });
    expect(await cli.run('plan', specFile(SPEC))).toBe(ExitCode.ok);
    expect(cli.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`).sort()).toEqual([
      'GET rollouts',
      'POST rollouts/preview',
    ]);
    expect(cli.requests.find((r) => r.path === 'rollouts/preview')?.body).toMatchObject({
      releaseId: 'rel-1.1.0',
      target: { filter: { region: 'eu-west' } },
      failurePolicy: 'rollback',
      force: false,
    });
    const out = cli.stdout();
    expect(out).toContain(
      'Plan eu-west-1.1.0: rel-1.1.0 (1.1.0) to filter region=eu-west; on failure: rollback',
    );
    expect(out).toMatch(/wave 1 +2 devices {2}soak 60 s, success >= 100%, max failures 0/);
    expect(out).toContain('sim-0003, sim-0004, sim-0005');
    expect(out).toContain('sim-0009  release has no artifact for hardware type toaster');
    expect(out).toContain('Apply would start one rollout: 5 devices to 1.1.0 in 2 wave(s).');
    expect(out).toContain('Nothing was written.');
  });

  it('plan refuses a bad spec with exit 2 before calling the API', async () => {
    const cli = await fakeCli({ routes: api() });
    const file = specFile(SPEC.replace('percent: 100', 'percent: 130'));
    expect(await cli.run('plan', file)).toBe(ExitCode.usage);
    expect(cli.stderr()).toMatch(/waves\[1\]\.percent \(line 8\): percent must be at most 100/);
    expect(cli.requests).toHaveLength(0);
  });

  it('apply starts the rollout when none of the same release and target is active', async () => {
    const cli = await fakeCli({ routes: api([rolloutView('succeeded')]) });
    expect(await cli.run('apply', specFile(SPEC))).toBe(ExitCode.ok);
    expect(cli.requests.filter((r) => r.method === 'POST' && r.path === 'rollouts')).toHaveLength(1);
    expect(cli.stdout()).toContain('Started ro-0123456789ab (eu-west-1.1.0)');
  });

  it('apply starts nothing when the same release and target is already rolling out', async () => {
    const cli = await fakeCli({
      routes: api([rolloutView('running', { target: { filter: { region: 'eu-west' } } })]),
    });
    expect(await cli.run('--json', 'apply', specFile(SPEC))).toBe(ExitCode.ok);
    expect(cli.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
    expect(JSON.parse(cli.stdout())).toMatchObject({
      started: false,
      rollout: { rolloutId: 'ro-0123456789ab' },
    });
  });
});

describe('edgeops audit', () => {
  const entry = {
    at: '2026-11-28T09:30:00.000Z',
    requestId: 'req-1',
    actor: { username: 'alice', sub: 'sub-1' },
    method: 'POST',
    route: '/rollouts/{rolloutId}/pause',
    pathParameters: { rolloutId: 'ro-0123456789ab' },
    body: null,
    status: 200,
    deviceId: null,
    rolloutId: 'ro-0123456789ab',
  };

  it('sends the filters as GET /audit takes them and shows who did what with the request id', async () => {
    const cli = await fakeCli({
      routes: [() => ({ status: 200, body: { items: [entry], from: 'a', to: 'b', nextCursor: null } })],
    });
    expect(await cli.run('audit', '--rollout', 'ro-0123456789ab', '--actor', 'alice', '--limit', '10')).toBe(
      ExitCode.ok,
    );
    expect(cli.requests[0]?.path).toBe('audit?actor=alice&rolloutId=ro-0123456789ab&limit=10');
    expect(cli.stdout()).toMatch(
      /^2026-11-28T09:30:00\.000Z +alice +POST \/rollouts\/ro-0123456789ab\/pause +200 +req-1$/m,
    );
  });

  it('says when a filtered page is short but there is more', async () => {
    const cli = await fakeCli({
      routes: [() => ({ status: 200, body: { items: [], from: 'a', to: 'b', nextCursor: 'next' } })],
    });
    await cli.run('audit', '--device', 'sim-0001');
    expect(cli.stdout()).toContain('(a filtered page may be short; more: --cursor next)');
  });
});
