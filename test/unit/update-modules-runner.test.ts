import { chmod, chown, mkdir, readFile, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HANDLER_STATES, OUTPUT_TAIL_BYTES } from '../../device/update-modules/handler-contract';
import {
  describeFailure,
  type HandlerRun,
  parseAnswer,
  resolveHandler,
  runHandler,
  UpdateHandlerError,
} from '../../device/update-modules/handler-runner';
import {
  installShippedHandlers,
  makeSandbox,
  processIsDead,
  type Sandbox,
  SHIPPED_HANDLERS,
  SHIPPED_HANDLERS_DIR,
  writeHandler,
} from './update-modules-fixtures';

let sandbox: Sandbox;
let workdir: string;
beforeEach(async () => {
  sandbox = await makeSandbox();
  workdir = join(sandbox.root, 'work');
  await mkdir(join(workdir, 'tmp'), { recursive: true });
});
afterEach(async () => {
  await sandbox.remove();
});

const run = (path: string, state: string, extra: { timeoutSeconds?: number; signal?: AbortSignal } = {}) =>
  runHandler({
    name: 'test',
    path,
    state,
    workdir,
    env: { PATH: process.env.PATH },
    timeoutSeconds: extra.timeoutSeconds ?? 5,
    killGraceMs: 200,
    signal: extra.signal,
  });

describe('resolveHandler', () => {
  it('finds an executable by name in the handlers dir', async () => {
    const path = await writeHandler(sandbox.handlersDir, 'ok', '#!/bin/sh\nexit 0\n');

    expect(await resolveHandler(sandbox.handlersDir, 'ok')).toBe(path);
  });

  it.each(['../ok', 'a/b', '.hidden', '..', '', 'UPPER', '/bin/sh'])('refuses the name %j', async (name) => {
    await writeHandler(sandbox.handlersDir, 'ok', '#!/bin/sh\nexit 0\n');

    await expect(resolveHandler(sandbox.handlersDir, name)).rejects.toThrow(/is not a plain name/);
  });

  it('refuses a handler that does not exist', async () => {
    await expect(resolveHandler(sandbox.handlersDir, 'missing')).rejects.toThrow(
      `no handler 'missing' in ${sandbox.handlersDir}`,
    );
  });

  it('refuses a file without execute permission', async () => {
    const path = await writeHandler(sandbox.handlersDir, 'plain', '#!/bin/sh\nexit 0\n');
    await chmod(path, 0o644);

    await expect(resolveHandler(sandbox.handlersDir, 'plain')).rejects.toThrow(/is not executable/);
  });

  it('refuses a handler that group or others may write', async () => {
    const path = await writeHandler(sandbox.handlersDir, 'shared', '#!/bin/sh\nexit 0\n');
    await chmod(path, 0o775);

    await expect(resolveHandler(sandbox.handlersDir, 'shared')).rejects.toThrow(
      /writable by group or others \(mode 775\)/,
    );
  });

  it('refuses a handlers dir that others may write', async () => {
    await writeHandler(sandbox.handlersDir, 'ok', '#!/bin/sh\nexit 0\n');
    await chmod(sandbox.handlersDir, 0o777);

    await expect(resolveHandler(sandbox.handlersDir, 'ok')).rejects.toThrow(UpdateHandlerError);
  });

  it.runIf(process.getuid?.() === 0)('refuses a handler owned by another user', async () => {
    const path = await writeHandler(sandbox.handlersDir, 'foreign', '#!/bin/sh\nexit 0\n');
    await chown(path, 4321, 4321);

    await expect(resolveHandler(sandbox.handlersDir, 'foreign')).rejects.toThrow(/owned by uid 4321/);
  });

  it('refuses a directory in place of a handler', async () => {
    await mkdir(join(sandbox.handlersDir, 'dir'), { mode: 0o755 });

    await expect(resolveHandler(sandbox.handlersDir, 'dir')).rejects.toThrow(/not a regular file/);
  });

  it('follows a symlink to a trusted executable', async () => {
    const real = await writeHandler(sandbox.root, 'real-handler', '#!/bin/sh\nexit 0\n');
    await symlink(real, join(sandbox.handlersDir, 'linked'));

    expect(await resolveHandler(sandbox.handlersDir, 'linked')).toBe(real);
  });
});

describe('runHandler', () => {
  it('calls the handler as <handler> <STATE> <workdir> in the work dir and keeps what it printed', async () => {
    const path = await writeHandler(
      sandbox.handlersDir,
      'echo',
      '#!/bin/sh\necho "$1 $2 $(pwd)"\necho oops >&2\n',
    );

    const result = await run(path, 'ArtifactInstall');

    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stderr: 'oops\n', outputTruncated: false });
    expect(result.stdout).toBe(`ArtifactInstall ${workdir} ${workdir}\n`);
    expect(describeFailure(result)).toBeUndefined();
  });

  it('reports a non-zero exit with the last line the handler printed', async () => {
    const path = await writeHandler(
      sandbox.handlersDir,
      'bad',
      '#!/bin/sh\necho "step 1" >&2\necho "disk full" >&2\nexit 3\n',
    );

    const result = await run(path, 'ArtifactInstall');

    expect(describeFailure({ ...result, name: 'bad' })).toBe(
      'handler-failed: bad ArtifactInstall exit 3: disk full',
    );
  });

  it('kills the whole process group past the timeout and reports handler-timeout', async () => {
    const path = await writeHandler(
      sandbox.handlersDir,
      'hang',
      '#!/bin/sh\nsleep 30 &\necho $! > tmp/child.pid\nsleep 30\n',
    );
    const started = Date.now();

    const result = await run(path, 'HealthCheck', { timeoutSeconds: 0.3 });

    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.timedOut).toBe(true);
    expect(describeFailure({ ...result, name: 'hang' })).toBe(
      'handler-timeout: hang HealthCheck after 0.3 s',
    );
    const child = Number(await readFile(join(workdir, 'tmp/child.pid'), 'utf8'));
    expect(await processIsDead(child)).toBe(true);
  });

  it('follows SIGTERM with SIGKILL when the group ignores it', async () => {
    const path = await writeHandler(
      sandbox.handlersDir,
      'stubborn',
      "#!/bin/sh\ntrap '' TERM\nsleep 30 &\necho $! > tmp/child.pid\nsleep 30\n",
    );

    const result = await run(path, 'ArtifactCommit', { timeoutSeconds: 0.2 });

    expect(result).toMatchObject({ timedOut: true, exitSignal: 'SIGKILL' });
    const child = Number(await readFile(join(workdir, 'tmp/child.pid'), 'utf8'));
    expect(await processIsDead(child)).toBe(true);
  });

  it('keeps only the last 4 KB of a long output', async () => {
    const path = await writeHandler(
      sandbox.handlersDir,
      'chatty',
      "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\necho\necho LAST-LINE\n",
    );

    const result = await run(path, 'Download');

    expect(Buffer.byteLength(result.stdout)).toBe(OUTPUT_TAIL_BYTES);
    expect(result.stdout.endsWith('x\nLAST-LINE\n')).toBe(true);
    expect(result.outputTruncated).toBe(true);
  });

  it('keeps a failure reason within the 256 characters of an OTA event', async () => {
    const path = await writeHandler(
      sandbox.handlersDir,
      'long',
      "#!/bin/sh\nhead -c 1000 /dev/zero | tr '\\0' y >&2\nexit 1\n",
    );

    const reason = describeFailure(await run(path, 'ArtifactInstall'));

    expect(reason?.length).toBe(256);
    expect(reason?.startsWith('handler-failed: test ArtifactInstall exit 1: yyy')).toBe(true);
  });

  it('kills the group and rejects when the agent stops', async () => {
    const path = await writeHandler(sandbox.handlersDir, 'slow', '#!/bin/sh\necho $$ > tmp/pid\nsleep 30\n');
    const stop = new AbortController();
    setTimeout(() => stop.abort(new Error('power cut')), 200);

    await expect(run(path, 'ArtifactInstall', { signal: stop.signal })).rejects.toThrow('power cut');

    expect(await processIsDead(Number(await readFile(join(workdir, 'tmp/pid'), 'utf8')))).toBe(true);
  });

  it('reports a handler that cannot start', async () => {
    const result = await run(join(sandbox.handlersDir, 'nothing-here'), 'Download');

    expect(describeFailure(result)).toMatch(/^handler-failed: test Download did not start: spawn .* ENOENT$/);
  });
});

describe('parseAnswer', () => {
  const answered = (stdout: string, exitCode = 0): HandlerRun => ({
    name: 'h',
    state: 'NeedsArtifactReboot',
    exitCode,
    exitSignal: null,
    timedOut: false,
    timeoutSeconds: 30,
    stdout,
    stderr: '',
    outputTruncated: false,
    seconds: 0,
  });
  const answers = ['Yes', 'No', 'Automatic'] as const;

  it.each([
    ['Yes\n', 'Yes'],
    ['  Automatic \n', 'Automatic'],
    ['No', 'No'],
    ['', 'No'],
  ])('reads %j as %s', (stdout, answer) => {
    expect(parseAnswer(answered(stdout), answers)).toEqual({ ok: true, answer });
  });

  it('refuses any other answer', () => {
    expect(parseAnswer(answered('maybe\n'), answers)).toEqual({
      ok: false,
      reason: "handler-bad-answer: h NeedsArtifactReboot printed 'maybe', not Yes/No/Automatic",
    });
  });

  it('refuses the answer of a handler that failed', () => {
    expect(parseAnswer(answered('Yes\n', 2), answers)).toEqual({
      ok: false,
      reason: 'handler-failed: h NeedsArtifactReboot exit 2: Yes',
    });
  });
});

describe('shipped handlers', () => {
  it.each(SHIPPED_HANDLERS)(
    '%s is executable in the repository, so the package installs it so',
    async (name) => {
      expect((await stat(join(SHIPPED_HANDLERS_DIR, name))).mode & 0o111).toBe(0o111);
    },
  );

  it.each(SHIPPED_HANDLERS)('%s exits 0 on a state it does not know', async (name) => {
    await installShippedHandlers(sandbox.handlersDir);

    const result = await run(await resolveHandler(sandbox.handlersDir, name), 'SomeFutureState');

    expect(result.exitCode).toBe(0);
  });

  it.each(SHIPPED_HANDLERS)('%s exits 0 on every optional state it does not use', async (name) => {
    await installShippedHandlers(sandbox.handlersDir);
    const path = await resolveHandler(sandbox.handlersDir, name);
    const optional = HANDLER_STATES.filter((state) =>
      ['ArtifactFailure', 'ArtifactRollbackReboot', ...(name === 'rootfs' ? [] : ['Download'])].includes(
        state,
      ),
    );

    for (const state of optional) expect((await run(path, state)).exitCode, state).toBe(0);
  });
});
