import { execFile } from 'node:child_process';
import { mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ComponentUpdate } from '../../device/update-modules/component-work-dir';
import { runComponentUpdate } from '../../device/update-modules/run-component-update';
import type { UpdateModules } from '../../device/update-modules/update-modules';
import {
  installShippedHandlers,
  listDir,
  makeSandbox,
  processIsDead,
  type Sandbox,
  waitFor,
} from './update-modules-fixtures';

const exec = promisify(execFile);

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await makeSandbox();
  await installShippedHandlers(sandbox.handlersDir);
});
afterEach(async () => {
  await sandbox.remove();
});

/** Prepares one update with one payload file and runs it (again after each reboot it asks for). */
async function update(
  modules: UpdateModules,
  change: ComponentUpdate,
  payload: { name: string; path: string },
  reboots = 0,
) {
  await modules.prepare(change, [payload]);
  let outcome = await runComponentUpdate(modules, change.component);
  for (let reboot = 0; reboot < reboots; reboot++)
    outcome = await runComponentUpdate(modules, change.component);
  return outcome;
}

/** A tar.gz of `files` (path → content), made with the system tar as a release build would. */
async function tarball(name: string, files: Record<string, string>): Promise<{ name: string; path: string }> {
  const source = join(sandbox.root, `src-${name}`);
  await mkdir(source, { recursive: true });
  for (const [path, content] of Object.entries(files)) await writeFile(join(source, path), content);
  const path = join(sandbox.payloadDir, name);
  await exec('tar', ['-czf', path, '-C', source, '.']);
  return { name, path };
}

describe('single-file handler', () => {
  let modules: UpdateModules;
  let target: string;
  beforeEach(() => {
    modules = sandbox.modules();
    target = join(sandbox.deviceDir, 'etc/gateway.conf');
  });
  const config = (version: string, content: string) =>
    sandbox.payload(`gateway-${version}.conf`, content).then((path) => ({ name: 'gateway.conf', path }));
  const change = (version: string): ComponentUpdate => ({
    component: 'gateway-conf',
    handler: 'single-file',
    version,
    target,
  });

  it('installs the file at its target and commits', async () => {
    expect(await update(modules, change('1'), await config('1', 'v1'))).toEqual({ kind: 'committed' });

    expect(await readFile(target, 'utf8')).toBe('v1');
    expect(await listDir(join(sandbox.deviceDir, 'etc'))).toEqual(['gateway.conf']);
  });

  it('puts the old file back on rollback', async () => {
    await update(modules, change('1'), await config('1', 'v1'));
    await modules.prepare(change('2'), [await config('2', 'v2')]);
    await modules.install('gateway-conf');
    expect(await readFile(target, 'utf8')).toBe('v2');

    expect(await modules.rollback('gateway-conf', 'app failed')).toEqual({
      kind: 'rolled-back',
      reason: 'app failed',
    });

    expect(await readFile(target, 'utf8')).toBe('v1');
    expect(await listDir(join(sandbox.deviceDir, 'etc'))).toEqual(['gateway.conf']);
  });

  it('fails the health check when the file in place is not the payload, and rolls back', async () => {
    await update(modules, change('1'), await config('1', 'v1'));
    await modules.prepare(change('2'), [await config('2', 'v2')]);
    await modules.install('gateway-conf');
    await writeFile(target, 'changed behind its back');

    expect(await runComponentUpdate(modules, 'gateway-conf')).toMatchObject({
      kind: 'rolled-back',
      reason: expect.stringMatching(
        /^handler-failed: single-file HealthCheck exit 1: single-file: .* is not the payload/,
      ),
    });
    expect(await readFile(target, 'utf8')).toBe('v1');
  });

  it('removes the file on rollback when there was none before', async () => {
    await modules.prepare(change('1'), [await config('1', 'v1')]);
    await modules.install('gateway-conf');

    await modules.rollback('gateway-conf', 'app failed');

    expect(await listDir(join(sandbox.deviceDir, 'etc'))).toEqual([]);
  });
});

describe('directory handler', () => {
  const pidFile = () => join(sandbox.root, 'app.pid');
  let modules: UpdateModules;
  let port: number;
  const target = () => join(sandbox.deviceDir, 'opt/acme-app');

  beforeEach(async () => {
    port = await freePort();
    // Stands in for `systemctl restart`: stops the running app, starts the one in the target.
    const restart = join(sandbox.root, 'restart-app');
    await writeFile(
      restart,
      `#!/bin/sh
set -eu
if [ -f "$APP_PIDFILE" ]; then
  old=$(cat "$APP_PIDFILE")
  kill "$old" 2>/dev/null || true
  n=0
  while [ -r "/proc/$old/stat" ] && ! grep -q ') Z ' "/proc/$old/stat" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
fi
setsid "$NODE_BIN" "$EDGEOPS_TARGET/server.mjs" >>"$APP_LOG" 2>&1 </dev/null &
echo $! >"$APP_PIDFILE"
`,
      { mode: 0o755 },
    );
    modules = sandbox.modules({
      env: {
        EDGEOPS_RESTART_COMMAND: restart,
        APP_PIDFILE: pidFile(),
        APP_LOG: join(sandbox.root, 'app.log'),
        NODE_BIN: process.execPath,
        APP_PORT: String(port),
      },
    });
  });
  afterEach(async () => {
    const pid = Number(await readFile(pidFile(), 'utf8').catch(() => '0'));
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
      await waitFor(() => processIsDead(pid));
    }
  });

  /** An app that answers /health with its version, or (broken) with 500. */
  const app = (version: string, healthy = true) =>
    tarball(`acme-app-${version}.tar.gz`, {
      'version.txt': version,
      'server.mjs': `
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
const version = readFileSync(new URL('./version.txt', import.meta.url), 'utf8');
createServer((req, res) => {
  res.writeHead(${healthy ? 200 : 500});
  res.end(version);
}).listen(Number(process.env.APP_PORT), '127.0.0.1');
`,
    });
  const change = (version: string, healthTimeout = '10'): ComponentUpdate => ({
    component: 'acme-app',
    handler: 'directory',
    version,
    target: target(),
    config: {
      unit: 'acme-app.service',
      'health-url': `http://127.0.0.1:${port}/health`,
      'health-timeout': healthTimeout,
    },
  });
  const answer = async () => (await fetch(`http://127.0.0.1:${port}/health`)).text();

  it('installs the app, restarts it, checks it over HTTP and commits', async () => {
    expect(await update(modules, change('1.0.0'), await app('1.0.0'))).toEqual({ kind: 'committed' });

    expect(await answer()).toBe('1.0.0');
    expect(await listDir(join(sandbox.deviceDir, 'opt'))).toEqual(['acme-app']);
  });

  it('restores the old app and restarts it when the new one fails its health check', async () => {
    await update(modules, change('1.0.0'), await app('1.0.0'));

    const outcome = await update(modules, change('2.0.0', '1'), await app('2.0.0', false));

    expect(outcome).toEqual({
      kind: 'rolled-back',
      reason: 'handler-failed: directory HealthCheck exit 1: directory: not healthy after 1 s',
    });
    expect(await readFile(join(target(), 'version.txt'), 'utf8')).toBe('1.0.0');
    await waitFor(async () => (await answer().catch(() => '')) === '1.0.0');
    expect(await listDir(join(sandbox.deviceDir, 'opt'))).toEqual(['acme-app']);
  });

  it('refuses a payload that is not a tar archive, leaving the app as it was', async () => {
    await update(modules, change('1.0.0'), await app('1.0.0'));

    const outcome = await update(modules, change('2.0.0'), {
      name: 'acme-app.zip',
      path: await sandbox.payload('acme-app.zip', 'PK'),
    });

    expect(outcome).toMatchObject({
      kind: 'rolled-back',
      reason: expect.stringContaining('is not a .tar, .tar.gz or .tgz'),
    });
    expect(await answer()).toBe('1.0.0');
  });
});

describe('ml-model handler', () => {
  let modules: UpdateModules;
  const root = () => join(sandbox.deviceDir, 'models/detector');
  beforeEach(() => {
    modules = sandbox.modules();
  });
  const change = (version: string, config: Record<string, string> = {}): ComponentUpdate => ({
    component: 'detector',
    handler: 'ml-model',
    version,
    target: root(),
    config: { 'health-command': 'test -s model.onnx', ...config },
  });
  const model = (version: string, files: Record<string, string> = { 'model.onnx': `weights ${version}` }) =>
    tarball(`detector-${version}.tar.gz`, files);

  it('puts each version in its own directory and points current at the new one', async () => {
    await update(modules, change('1.0.0'), await model('1.0.0'));

    expect(await update(modules, change('2.0.0'), await model('2.0.0'))).toEqual({ kind: 'committed' });

    expect(await readlink(join(root(), 'current'))).toBe('2.0.0');
    expect(await readFile(join(root(), 'current/model.onnx'), 'utf8')).toBe('weights 2.0.0');
    expect(await listDir(root())).toEqual(['1.0.0', '2.0.0', 'current']);
  });

  it('points current back at the old version when the new one fails its health check', async () => {
    await update(modules, change('1.0.0'), await model('1.0.0'));

    const outcome = await update(modules, change('2.0.0'), await model('2.0.0', { 'labels.txt': 'cat' }));

    expect(outcome).toEqual({
      kind: 'rolled-back',
      reason: 'handler-failed: ml-model HealthCheck exit 1: ml-model: health command failed',
    });
    expect(await readlink(join(root(), 'current'))).toBe('1.0.0');
    expect(await listDir(root())).toEqual(['1.0.0', 'current']);
  });

  it('keeps the configured number of previous versions at commit', async () => {
    for (const version of ['1.0.0', '2.0.0', '3.0.0', '4.0.0'])
      await update(modules, change(version, { keep: '2' }), await model(version));

    expect(await listDir(root())).toEqual(['2.0.0', '3.0.0', '4.0.0', 'current']);
  });
});

describe('rootfs handler', () => {
  it('fails clearly and changes nothing without rauc', async () => {
    const modules = sandbox.modules({ env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });

    const outcome = await update(
      modules,
      { component: 'rootfs', handler: 'rootfs', version: '2.0.0' },
      { name: 'os.raucb', path: await sandbox.payload('os.raucb', 'bundle') },
    );

    expect(outcome).toEqual({
      kind: 'rolled-back',
      reason:
        'handler-failed: rootfs Download exit 1: rootfs: rauc not found on PATH: this handler installs root file systems with RAUC only',
    });
  });

  describe('with rauc', () => {
    let booted: string;
    let calls: string;
    let modules: UpdateModules;
    beforeEach(async () => {
      const bin = join(sandbox.root, 'bin');
      await mkdir(bin);
      booted = join(sandbox.root, 'booted-slot');
      calls = join(sandbox.root, 'rauc-calls');
      await writeFile(booted, 'A');
      // A fake rauc: records its arguments; `status --output-format=shell` tells the booted slot.
      await writeFile(
        join(bin, 'rauc'),
        `#!/bin/sh
echo "$*" >>"$RAUC_CALLS"
if [ "$*" = "status --output-format=shell" ]; then
  echo "RAUC_SYSTEM_COMPATIBLE='acme-gateway'"
  echo "RAUC_SYSTEM_BOOTED_BOOTNAME='$(cat "$RAUC_BOOTED")'"
fi
`,
        { mode: 0o755 },
      );
      modules = sandbox.modules({
        env: { PATH: `${bin}:${process.env.PATH}`, RAUC_CALLS: calls, RAUC_BOOTED: booted },
      });
    });
    const raucCalls = async () => (await readFile(calls, 'utf8')).split('\n').filter(Boolean);
    const bundle = () =>
      sandbox.payload('os.raucb', 'bundle').then((path) => ({ name: 'os-2.0.0.raucb', path }));
    const change = (config: Record<string, string> = {}): ComponentUpdate => ({
      component: 'rootfs',
      handler: 'rootfs',
      version: '2.0.0',
      config,
    });
    const bundlePath = () => join(sandbox.modulesDir, 'work/rootfs/payload/os-2.0.0.raucb');

    it('installs the bundle, asks for a reboot, checks the other slot booted and marks it good', async () => {
      await modules.prepare(change(), [await bundle()]);

      expect(await runComponentUpdate(modules, 'rootfs')).toEqual({ kind: 'installed-needs-reboot' });
      await writeFile(booted, 'B');
      expect(await runComponentUpdate(modules, 'rootfs')).toEqual({ kind: 'committed' });

      expect(await raucCalls()).toEqual([
        'status --output-format=shell',
        `install ${bundlePath()}`,
        'status --output-format=shell',
        'status mark-good',
      ]);
    });

    it('marks the new slot bad and keeps the old one when the device came back on it', async () => {
      await modules.prepare(change(), [await bundle()]);
      await runComponentUpdate(modules, 'rootfs');

      const outcome = await runComponentUpdate(modules, 'rootfs');
      const finished = await runComponentUpdate(modules, 'rootfs');

      expect(outcome).toEqual({
        kind: 'rollback-needs-reboot',
        reason:
          'handler-failed: rootfs ArtifactVerifyReboot exit 1: rootfs: still on slot A after the reboot: the new slot did not boot',
      });
      expect(finished).toMatchObject({ kind: 'rolled-back' });
      expect((await raucCalls()).slice(2)).toEqual([
        'status --output-format=shell',
        'status mark-bad other',
        'status --output-format=shell',
        'status mark-active booted',
        'status --output-format=shell',
      ]);
    });

    it('makes the old slot primary and reboots into it when the new one is unhealthy', async () => {
      await modules.prepare(change({ 'health-command': 'false' }), [await bundle()]);
      await runComponentUpdate(modules, 'rootfs');
      await writeFile(booted, 'B');

      expect(await runComponentUpdate(modules, 'rootfs')).toMatchObject({ kind: 'rollback-needs-reboot' });
      await writeFile(booted, 'A');
      expect(await runComponentUpdate(modules, 'rootfs')).toMatchObject({ kind: 'rolled-back' });

      expect((await raucCalls()).slice(2)).toEqual([
        'status --output-format=shell',
        'status --output-format=shell',
        'status mark-active other',
        'status --output-format=shell',
      ]);
    });
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
