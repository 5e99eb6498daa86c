import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpdateModuleError } from '../../device/update-modules/component-work-dir';
import { runComponentUpdate } from '../../device/update-modules/run-component-update';
import type { UpdateModules } from '../../device/update-modules/update-modules';
import {
  listDir,
  makeSandbox,
  readCalls,
  type Sandbox,
  SCRIPTED_HANDLER,
  scriptedUpdate,
  waitFor,
  writeHandler,
} from './update-modules-fixtures';

let sandbox: Sandbox;
let callsLog: string;
let modules: UpdateModules;
beforeEach(async () => {
  sandbox = await makeSandbox();
  callsLog = join(sandbox.root, 'calls.log');
  await writeHandler(sandbox.handlersDir, 'scripted', SCRIPTED_HANDLER);
  modules = sandbox.modules({ env: { CALLS_LOG: callsLog } });
});
afterEach(async () => {
  await sandbox.remove();
});

async function prepare(component: string, config: Record<string, string> = {}) {
  await modules.prepare(scriptedUpdate(component, config), [
    { name: `${component}.bin`, path: await sandbox.payload(`${component}.bin`, `payload of ${component}`) },
  ]);
}

/** The states one component's handler was called in. */
const statesOf = async (component: string) =>
  (await readCalls(callsLog))
    .filter((line) => line.startsWith(`${component} `))
    .map((line) => line.split(' ')[1]);

describe('runComponentUpdate', () => {
  it('installs, checks and commits a component that needs no reboot', async () => {
    await prepare('app');

    expect(await runComponentUpdate(modules, 'app')).toEqual({ kind: 'committed' });

    expect(await statesOf('app')).toEqual([
      'Download',
      'ArtifactInstall',
      'NeedsArtifactReboot',
      'HealthCheck',
      'ArtifactCommit',
      'Cleanup',
    ]);
  });

  it('stops for a reboot when the handler needs one, and verifies the reboot on the next call', async () => {
    await prepare('os', { reboot: 'Yes' });

    expect(await runComponentUpdate(modules, 'os')).toEqual({ kind: 'installed-needs-reboot' });
    expect(await statesOf('os')).toEqual([
      'Download',
      'ArtifactInstall',
      'NeedsArtifactReboot',
      'ArtifactReboot',
    ]);

    expect(await runComponentUpdate(modules, 'os')).toEqual({ kind: 'committed' });
    expect((await statesOf('os')).slice(4)).toEqual([
      'ArtifactVerifyReboot',
      'HealthCheck',
      'ArtifactCommit',
      'Cleanup',
    ]);
  });

  it('leaves the reboot to the agent, without ArtifactReboot, when the handler says Automatic', async () => {
    await prepare('os', { reboot: 'Automatic' });

    expect(await runComponentUpdate(modules, 'os')).toEqual({ kind: 'installed-needs-reboot' });
    expect(await runComponentUpdate(modules, 'os')).toEqual({ kind: 'committed' });

    expect(await statesOf('os')).not.toContain('ArtifactReboot');
    expect(await statesOf('os')).toContain('ArtifactVerifyReboot');
  });

  it('rolls back a failed install and says why', async () => {
    await prepare('app', { fail: 'ArtifactInstall' });

    expect(await runComponentUpdate(modules, 'app')).toEqual({
      kind: 'rolled-back',
      reason: 'handler-failed: scripted ArtifactInstall exit 1: scripted failure in ArtifactInstall',
    });
    expect((await statesOf('app')).slice(2)).toEqual([
      'SupportsRollback',
      'ArtifactRollback',
      'ArtifactFailure',
      'Cleanup',
    ]);
  });

  it('only cleans up after a failed Download: nothing was installed', async () => {
    await prepare('app', { fail: 'Download' });

    expect(await runComponentUpdate(modules, 'app')).toMatchObject({ kind: 'rolled-back' });
    expect(await statesOf('app')).toEqual(['Download', 'Cleanup']);
  });

  it('rolls back a component whose health check fails', async () => {
    await prepare('app', { fail: 'HealthCheck' });

    expect(await runComponentUpdate(modules, 'app')).toEqual({
      kind: 'rolled-back',
      reason: 'handler-failed: scripted HealthCheck exit 1: scripted failure in HealthCheck',
    });
    expect(await statesOf('app')).not.toContain('ArtifactCommit');
  });

  it('rolls back with a handler-timeout reason when a health check hangs', async () => {
    modules = sandbox.modules({ env: { CALLS_LOG: callsLog }, timeouts: { HealthCheck: 0.3 } });
    await prepare('app', { hang: 'HealthCheck' });

    expect(await runComponentUpdate(modules, 'app')).toEqual({
      kind: 'rolled-back',
      reason: 'handler-timeout: scripted HealthCheck after 0.3 s',
    });
  });

  it('reboots back after rolling back a component that had rebooted into the new version', async () => {
    await prepare('os', { reboot: 'Yes', fail: 'HealthCheck' });
    await runComponentUpdate(modules, 'os');

    expect(await runComponentUpdate(modules, 'os')).toMatchObject({ kind: 'rollback-needs-reboot' });
    expect((await statesOf('os')).slice(-2)).toEqual(['ArtifactRollback', 'ArtifactRollbackReboot']);

    expect(await runComponentUpdate(modules, 'os')).toMatchObject({ kind: 'rolled-back' });
    expect((await statesOf('os')).slice(-3)).toEqual([
      'ArtifactVerifyRollbackReboot',
      'ArtifactFailure',
      'Cleanup',
    ]);
  });

  it('fails without rollback when the handler cannot roll back', async () => {
    await prepare('app', { fail: 'HealthCheck', rollback: 'No' });

    expect(await runComponentUpdate(modules, 'app')).toEqual({
      kind: 'failed-no-rollback',
      reason: 'handler-failed: scripted HealthCheck exit 1: scripted failure in HealthCheck',
      detail: 'scripted cannot roll back',
    });
    expect((await statesOf('app')).slice(-3)).toEqual(['SupportsRollback', 'ArtifactFailure', 'Cleanup']);
  });

  it('fails without rollback when ArtifactRollback fails', async () => {
    await writeHandler(
      sandbox.handlersDir,
      'scripted',
      SCRIPTED_HANDLER.replace(
        'set -eu',
        'set -eu\n[ "$1" != ArtifactRollback ] || { echo "backup gone" >&2; exit 1; }',
      ),
    );
    await prepare('app', { fail: 'HealthCheck' });

    expect(await runComponentUpdate(modules, 'app')).toMatchObject({
      kind: 'failed-no-rollback',
      detail: 'handler-failed: scripted ArtifactRollback exit 1: backup gone',
    });
  });

  it('fails with handler-unusable, changing nothing, when the handler is missing', async () => {
    await modules.prepare({ ...scriptedUpdate('app'), handler: 'not-installed' }, [
      { name: 'app.bin', path: await sandbox.payload('app.bin', 'x') },
    ]);

    expect(await runComponentUpdate(modules, 'app')).toEqual({
      kind: 'rolled-back',
      reason: `handler-unusable: no handler 'not-installed' in ${sandbox.handlersDir}`,
    });
  });

  it('returns the same outcome when called again, running nothing more', async () => {
    await prepare('app');
    await runComponentUpdate(modules, 'app');
    const calls = await readCalls(callsLog);

    expect(await runComponentUpdate(modules, 'app')).toEqual({ kind: 'committed' });
    expect(await readCalls(callsLog)).toEqual(calls);
  });
});

describe('runComponentUpdate after a crash', () => {
  /** Runs until the handler hangs in `state`, then cuts the power: the handler is killed mid-state. */
  async function crashIn(component: string, state: string, config: Record<string, string> = {}) {
    await prepare(component, config);
    const power = new AbortController();
    const crashing = sandbox.modules({ env: { CALLS_LOG: callsLog, HANG_ON: state }, signal: power.signal });
    let settled = false;
    const start = () => {
      settled = false;
      const call = runComponentUpdate(crashing, component);
      call.then(
        () => (settled = true),
        () => (settled = true),
      );
      return call;
    };
    // Reboots happen between calls: call again until the handler hangs in `state`.
    let running = start();
    await waitFor(async () => {
      if ((await statesOf(component)).includes(state)) return true;
      if (settled) running = start();
      return false;
    });
    power.abort(new Error('power cut'));
    await expect(running).rejects.toThrow('power cut');
  }

  it.each([
    ['Download', {}],
    ['NeedsArtifactReboot', {}],
    ['ArtifactCommit', {}],
    ['Cleanup', {}],
  ])('runs %s again and commits', async (state, config) => {
    await crashIn('app', state, config);

    expect(await runComponentUpdate(modules, 'app')).toEqual({ kind: 'committed' });
    expect((await statesOf('app')).filter((called) => called === state)).toHaveLength(2);
  });

  it('takes a crash in ArtifactReboot for the reboot: verifies it and commits', async () => {
    await crashIn('app', 'ArtifactReboot', { reboot: 'Yes' });

    expect(await runComponentUpdate(modules, 'app')).toEqual({ kind: 'committed' });
    expect((await statesOf('app')).slice(3)).toEqual([
      'ArtifactReboot',
      'ArtifactVerifyReboot',
      'HealthCheck',
      'ArtifactCommit',
      'Cleanup',
    ]);
  });

  it.each([
    ['ArtifactInstall', {}],
    ['HealthCheck', {}],
    ['ArtifactVerifyReboot', { reboot: 'Yes' }],
  ])('rolls back a component cut short in %s', async (state, config) => {
    await crashIn('app', state, config);

    let outcome = await runComponentUpdate(modules, 'app');
    if (outcome.kind === 'rollback-needs-reboot') outcome = await runComponentUpdate(modules, 'app');

    expect(outcome).toEqual({ kind: 'rolled-back', reason: `interrupted: ${state}` });
    expect(await statesOf('app')).toContain('ArtifactRollback');
    expect(await statesOf('app')).not.toContain('ArtifactCommit');
  });

  it.each(['SupportsRollback', 'ArtifactRollback', 'ArtifactFailure'])(
    'goes on rolling back after a crash in %s',
    async (state) => {
      await crashIn('app', state, { fail: 'HealthCheck' });

      expect(await runComponentUpdate(modules, 'app')).toMatchObject({ kind: 'rolled-back' });
      expect((await statesOf('app')).filter((called) => called === state)).toHaveLength(2);
      expect((await statesOf('app')).at(-1)).toBe('Cleanup');
    },
  );
});

describe('UpdateModules', () => {
  it('drives several components all or nothing: one failing health check rolls every one back in reverse', async () => {
    for (const component of ['firmware', 'app', 'model'])
      await prepare(component, component === 'app' ? { fail: 'HealthCheck' } : {});
    const components = ['firmware', 'app', 'model'];

    for (const component of components) expect(await modules.install(component)).toMatchObject({ ok: true });
    expect(await modules.prepareReboot(components)).toEqual({ ok: true, reboot: false });
    for (const component of components)
      expect(await modules.verifyAfterReboot(component)).toEqual({ ok: true });
    const health = [];
    for (const component of components) health.push(await modules.healthCheck(component));
    const failed = health.find((result) => !result.ok);
    const reason = failed && !failed.ok ? failed.reason : '';
    const outcomes = [];
    for (const component of [...components].reverse())
      outcomes.push(await modules.rollback(component, reason));

    expect(health.map((result) => result.ok)).toEqual([true, false, true]);
    expect(outcomes).toEqual(Array(3).fill({ kind: 'rolled-back', reason }));
    const rollbacks = (await readCalls(callsLog)).filter((line) => line.endsWith(' ArtifactRollback'));
    expect(rollbacks).toEqual([
      'model ArtifactRollback',
      'app ArtifactRollback',
      'firmware ArtifactRollback',
    ]);
  });

  it('reboots once for several components that need it', async () => {
    await prepare('bootloader', { reboot: 'Yes' });
    await prepare('os', { reboot: 'Automatic' });
    await prepare('app');
    for (const component of ['bootloader', 'os', 'app']) await modules.install(component);

    expect(await modules.prepareReboot(['bootloader', 'os', 'app'])).toEqual({ ok: true, reboot: true });
    expect(await modules.install('os')).toEqual({ ok: true, reboot: 'Automatic', rebooted: true });
    expect(await modules.install('app')).toEqual({ ok: true, reboot: 'No', rebooted: false });
  });

  it('keeps a committed component as it is when asked to roll it back', async () => {
    await prepare('app');
    await runComponentUpdate(modules, 'app');

    expect(await modules.rollback('app', 'model failed')).toEqual({
      kind: 'failed-no-rollback',
      reason: 'model failed',
      detail: 'already committed',
    });
    expect(await statesOf('app')).not.toContain('ArtifactRollback');
  });

  it('rolls back a component that was never installed with Cleanup alone', async () => {
    await prepare('model');

    expect(await modules.rollback('model', 'app failed')).toEqual({
      kind: 'rolled-back',
      reason: 'app failed',
    });
    expect(await statesOf('model')).toEqual(['Cleanup']);
  });

  it('refuses a step out of order', async () => {
    await prepare('app');

    await expect(modules.healthCheck('app')).rejects.toThrow(UpdateModuleError);
    await expect(modules.commit('app')).rejects.toThrow('component app: commit at Prepared');
  });

  it('lays out the work dir and gives the handler its facts', async () => {
    await writeHandler(
      sandbox.handlersDir,
      'scripted',
      '#!/bin/sh\n[ "$1" != ArtifactInstall ] || env | grep ^EDGEOPS_ | sort > "$EDGEOPS_STATE_DIR/env"\n',
    );
    await modules.prepare(
      {
        component: 'agent-config',
        handler: 'scripted',
        version: '2.0.0',
        previousVersion: '1.0.0',
        target: '/etc/edgeops/extra.json',
        config: { 'health-url': 'http://127.0.0.1/health' },
      },
      [{ name: 'extra.json', path: await sandbox.payload('extra.json', '{}') }],
    );
    const workdir = join(sandbox.modulesDir, 'work/agent-config');
    const stateDir = join(sandbox.modulesDir, 'components/agent-config');
    const sha256 = '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

    expect(await listDir(workdir)).toEqual(['header', 'payload', 'state.json', 'tmp']);
    expect(JSON.parse(await readFile(join(workdir, 'header/component.json'), 'utf8'))).toEqual({
      component: 'agent-config',
      handler: 'scripted',
      version: '2.0.0',
      previousVersion: '1.0.0',
      target: '/etc/edgeops/extra.json',
      sha256,
      files: [{ name: 'extra.json', sha256, size: 2 }],
      config: { 'health-url': 'http://127.0.0.1/health' },
    });
    await modules.install('agent-config');
    expect((await readFile(join(stateDir, 'env'), 'utf8')).split('\n').filter(Boolean)).toEqual([
      'EDGEOPS_COMPONENT=agent-config',
      'EDGEOPS_CONFIG_HEALTH_URL=http://127.0.0.1/health',
      'EDGEOPS_HANDLER=scripted',
      `EDGEOPS_PAYLOAD=${workdir}/payload/extra.json`,
      'EDGEOPS_PREVIOUS_VERSION=1.0.0',
      `EDGEOPS_SHA256=${sha256}`,
      'EDGEOPS_STATE=ArtifactInstall',
      `EDGEOPS_STATE_DIR=${stateDir}`,
      'EDGEOPS_TARGET=/etc/edgeops/extra.json',
      'EDGEOPS_TIMEOUT=1800',
      'EDGEOPS_VERSION=2.0.0',
      `EDGEOPS_WORKDIR=${workdir}`,
    ]);
  });

  it('keeps the state and header once the update ends, and frees the payload', async () => {
    await prepare('app');
    await runComponentUpdate(modules, 'app');

    expect(await listDir(join(sandbox.modulesDir, 'work/app'))).toEqual(['header', 'state.json']);
    expect(await modules.status('app')).toMatchObject({
      state: 'Cleanup',
      done: true,
      outcome: { kind: 'committed' },
    });
  });

  it('refuses a second update of a component while one is under way, and takes it once that ended', async () => {
    await prepare('app');

    await expect(prepare('app')).rejects.toThrow('component app has an update under way (Prepared)');
    await expect(modules.discard('app')).rejects.toThrow(UpdateModuleError);
    await runComponentUpdate(modules, 'app');
    await prepare('app');
    expect(await modules.status('app')).toMatchObject({ state: 'Prepared' });
  });

  it('removes a finished component with discard', async () => {
    await prepare('app');
    await runComponentUpdate(modules, 'app');

    await modules.discard('app');

    expect(await modules.components()).toEqual([]);
  });

  it.each([
    [{ component: '../etc' }, /component:/],
    [{ handler: 'a/b' }, /handler:/],
    [{ version: '1.0/../x' }, /version:/],
    [{ target: 'relative/path' }, /target: must be a normalized absolute path/],
    [{ target: '/opt/../etc/passwd' }, /target:/],
    [{ config: { 'Bad Key': 'x' } }, /config/],
  ])('refuses an invalid update %j', async (change, message) => {
    const payload = await sandbox.payload('x.bin', 'x');

    await expect(
      modules.prepare({ ...scriptedUpdate('app'), ...change }, [{ name: 'x.bin', path: payload }]),
    ).rejects.toThrow(message);
  });

  it('refuses a payload whose SHA-256 is not the one verified', async () => {
    const payload = await sandbox.payload('x.bin', 'tampered');

    await expect(
      modules.prepare(scriptedUpdate('app'), [{ name: 'x.bin', path: payload, sha256: '0'.repeat(64) }]),
    ).rejects.toThrow('payload x.bin SHA-256 differs');
  });

  it('moves the payload into the work dir', async () => {
    const payload = await sandbox.payload('x.bin', 'bytes');

    await modules.prepare(scriptedUpdate('app'), [{ name: 'x.bin', path: payload }]);

    await expect(stat(payload)).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(sandbox.modulesDir, 'work/app/payload/x.bin'), 'utf8')).toBe('bytes');
  });
});
