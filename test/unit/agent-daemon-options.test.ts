import { access, chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentConfig, parseAgentConfig } from '../../device/daemon/agent-config';
import { agentOptions } from '../../device/daemon/agent-daemon';
import { configuredHealthCheck } from '../../device/daemon/health-probes';
import type { TrialBoot } from '../../device/ota/health-check';

function config(overrides: Record<string, unknown> = {}): AgentConfig {
  const file = parseAgentConfig(
    JSON.stringify({
      deviceId: 'gw-1',
      hardwareType: 'rpi4',
      factoryVersion: '1.0.0',
      identity: { certificate: '/c.pem', privateKey: '/k.pem', ca: '/ca.pem' },
      mqtt: { host: 'example-ats.iot.eu-west-1.amazonaws.com' },
      ...overrides,
    }),
    '/etc/edgeops/agent.json',
  );
  return {
    ...file,
    path: '/etc/edgeops/agent.json',
    certificatePem: 'CERT',
    privateKeyPem: 'KEY',
    caPem: 'CA',
    trustRootJson: { signed: { _type: 'root' } },
    warnings: [],
  };
}

describe('agentOptions: the config as DeviceAgent options', () => {
  it('connects with the identity over mutual TLS to the configured broker, with OTA on the state dir', () => {
    const options = agentOptions(config(), () => {});

    expect(options).toMatchObject({
      identity: { deviceId: 'gw-1', certificatePem: 'CERT', privateKey: 'KEY' },
      broker: { host: 'example-ats.iot.eu-west-1.amazonaws.com', port: 8883, ca: 'CA' },
      firmwareVersion: '1.0.0',
      ota: {
        stateDir: '/var/lib/edgeops',
        hardwareType: 'rpi4',
        allowPlainHttp: false,
        maxTrialBoots: undefined,
        downloadLimits: {},
        trustRoot: { signed: { _type: 'root' } },
        rootfs: 'slots',
      },
    });
    expect(options.ota?.healthCheck).toBeTypeOf('function');
    // The agent's own default handlers dir and timeouts.
    expect(options.ota).not.toHaveProperty('updateModules');
  });

  it('runs update modules from the configured dir, with its timeouts and environment', () => {
    const options = agentOptions(
      config({
        updateModules: {
          dir: '/opt/edgeops/modules',
          timeouts: { HealthCheck: 90, ArtifactInstall: 600 },
          env: { EDGEOPS_RESTART_COMMAND: '/usr/local/bin/restart-app', APP_PORT: '8080' },
        },
        rootfs: 'update-module',
      }),
      () => {},
    );

    expect(options.ota).toMatchObject({
      rootfs: 'update-module',
      updateModules: {
        handlersDir: '/opt/edgeops/modules',
        timeouts: { HealthCheck: 90, ArtifactInstall: 600 },
        env: { EDGEOPS_RESTART_COMMAND: '/usr/local/bin/restart-app', APP_PORT: '8080' },
      },
    });
  });

  it('leaves the timeouts and environment to the agent when the config names only the dir', () => {
    const options = agentOptions(
      config({ updateModules: { dir: '/usr/lib/edgeops/update-modules' } }),
      () => {},
    );

    expect(options.ota?.updateModules).toEqual({
      handlersDir: '/usr/lib/edgeops/update-modules',
      timeouts: undefined,
      env: undefined,
    });
  });

  it('passes trial boots and download limits through', () => {
    const options = agentOptions(
      config({
        trialBoots: 5,
        downloads: { minBytesPerSecond: 2048, maxSeconds: 7200, allowanceSeconds: 60, allowPlainHttp: true },
      }),
      () => {},
    );

    expect(options.ota).toMatchObject({
      allowPlainHttp: true,
      maxTrialBoots: 5,
      downloadLimits: { minBytesPerSecond: 2048, maxSeconds: 7200, allowanceSeconds: 60 },
    });
  });
});

describe('configuredHealthCheck', () => {
  let dir: string;
  let server: Server;
  let base: string;
  const trial = (signal = new AbortController().signal): TrialBoot => ({
    deviceId: 'gw-1',
    slot: 'B',
    version: '1.1.0',
    imagePath: join(dir, 'image.bin'),
    meta: { version: '1.1.0', installedAt: 0 },
    signal,
  });
  const script = async (name: string, body: string) => {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
  const checks = (http: unknown[] = [], commands: unknown[] = []) =>
    configuredHealthCheck(config({ healthChecks: { http, commands } }).healthChecks);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'health-probes-'));
    server = createServer((request, response) => {
      if (request.url === '/slow') return void setTimeout(() => response.end('late'), 5_000);
      response.statusCode = request.url === '/ok' ? 200 : request.url === '/teapot' ? 418 : 503;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('passes when every probe passes', async () => {
    const ok = await script('ok', 'exit 0');

    expect(await checks([{ url: `${base}/ok` }], [{ argv: [ok] }])(trial())).toEqual({ healthy: true });
  });

  it('fails on a status other than 2xx, or other than the one expected', async () => {
    expect(await checks([{ url: `${base}/down?token=secret` }])(trial())).toEqual({
      healthy: false,
      detail: `GET ${base}/down answered 503`,
    });
    expect(await checks([{ url: `${base}/ok`, expectStatus: 418 }])(trial())).toEqual({
      healthy: false,
      detail: `GET ${base}/ok answered 200`,
    });
    expect(await checks([{ url: `${base}/teapot`, expectStatus: 418 }])(trial())).toEqual({ healthy: true });
  });

  it('fails an HTTP probe that does not answer in time', async () => {
    expect(await checks([{ url: `${base}/slow`, timeoutSeconds: 0.2 }])(trial())).toEqual({
      healthy: false,
      detail: `GET ${base}/slow: no answer within 0.2 s`,
    });
  });

  it('fails a command that exits non-zero, with the last line it printed', async () => {
    const failing = await script('app-check', 'echo starting; echo "app not listening on :8080" >&2; exit 3');

    expect(await checks([], [{ argv: [failing] }])(trial())).toEqual({
      healthy: false,
      detail: 'app-check exited with 3: app not listening on :8080',
    });
  });

  it('gives the command the trial it checks, and kills one that runs too long', async () => {
    const env = await script(
      'env-check',
      '[ "$EDGEOPS_TRIAL_VERSION" = 1.1.0 ] && [ "$EDGEOPS_TRIAL_SLOT" = B ] && [ "$EDGEOPS_DEVICE_ID" = gw-1 ]',
    );
    const hang = await script('hang', 'sleep 30');

    expect(await checks([], [{ argv: [env] }])(trial())).toEqual({ healthy: true });
    expect(await checks([], [{ argv: [hang], timeoutSeconds: 0.2 }])(trial())).toEqual({
      healthy: false,
      detail: 'hang killed after 0.2 s',
    });
  });

  it('stops at the first probe that fails', async () => {
    const marker = join(dir, 'ran');
    const touch = await script('touch-marker', `touch ${marker}`);

    const verdict = await checks([{ url: `${base}/down` }], [{ argv: [touch] }])(trial());

    expect(verdict.healthy).toBe(false);
    await expect(access(marker)).rejects.toThrow(/ENOENT/);
  });

  it('gives up, rejecting, when the agent stops during the check', async () => {
    const hang = await script('hang-abort', 'sleep 30');
    const stop = new AbortController();

    const verdict = checks([], [{ argv: [hang] }])(trial(stop.signal));
    setTimeout(() => stop.abort(new Error('Agent stopped')), 100);

    await expect(verdict).rejects.toThrow();
  });
});
