/**
 * Lambda bundle benchmark: for every entry (functions/**\/*.handler.ts), the minified bundle size
 * and the CPU time a cold Node 24 spends importing it, against the goals (≤ 300 KB, ≤ 80 ms).
 * Bundles are built with EdgeOpsFunction's own esbuild options (lib/edgeops-function.ts), SDK
 * inside; each import runs in a fresh child process with the function environment's
 * NODE_OPTIONS, dummy AWS credentials and required variables, and no network.
 * Run: `npm run bench -- bundles` (BENCH_IMPORT_RUNS=<n> imports per function, default 9).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import type { BuildOptions, Metafile } from 'esbuild';
import { build } from 'esbuild';
import { EDGEOPS_BUNDLING, EDGEOPS_FUNCTION_ENVIRONMENT } from '../lib/edgeops-function';
import { PROJECT_DIR, RUNTIME_DIR } from '../scripts/local-aws/ministack';

const GOAL_KB = 300;
const GOAL_IMPORT_MS = 80;
const RUNS = Number(process.env.BENCH_IMPORT_RUNS ?? 9);

const functionsDir = join(PROJECT_DIR, 'functions');
const outDir = join(RUNTIME_DIR, 'bench-bundles');

function handlerEntries(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return handlerEntries(path);
      return entry.name.endsWith('.handler.ts') ? [path] : [];
    })
    .sort();
}

/** EdgeOpsFunction's bundling props as esbuild options; an option this does not know is an error. */
function esbuildOptions(): BuildOptions {
  const {
    format,
    target,
    minify,
    sourceMap,
    sourcesContent,
    externalModules,
    banner,
    mainFields,
    esbuildArgs,
    ...unknown
  } = EDGEOPS_BUNDLING;
  const { '--alias': aliases, ...unknownArgs } = esbuildArgs;
  const unmapped = [...Object.keys(unknown), ...Object.keys(unknownArgs)];
  if (unmapped.length > 0)
    throw new Error(`bench/bundles.ts does not map bundling options ${unmapped.join(', ')}`);
  return {
    bundle: true,
    platform: 'node',
    format,
    target,
    minify,
    sourcemap: sourceMap,
    sourcesContent,
    external: [...externalModules],
    banner: { js: banner },
    mainFields: [...mainFields],
    alias: Object.fromEntries(aliases.map((alias) => alias.split('=') as [string, string])),
    metafile: true,
    logLevel: 'silent',
  };
}

/**
 * Every variable the functions read by name (`requireEnv('X')`, `requirePositiveInteger('X')`,
 * ...), set to a dummy: a number where the name says it counts something.
 */
function dummyEnvironment(): Record<string, string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const m of readFileSync(path, 'utf8').matchAll(/\w\('([A-Z][A-Z0-9_]{2,})'\)/g))
          names.add(m[1] ?? '');
      }
    }
  };
  walk(functionsDir);
  const env: Record<string, string> = {};
  for (const name of names)
    env[name] = /_(SECONDS|MINUTES|HOURS|BYTES|COUNT)$/.test(name) ? '60' : `bench-${name.toLowerCase()}`;
  return env;
}

/** The Node 24 that npm scripts put first on PATH (plain `node` may be older). */
function node24(): string {
  const candidates = [process.execPath, join(PROJECT_DIR, 'node_modules', '.bin', 'node')];
  for (const candidate of candidates) {
    const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
    if (Number(version.slice(1).split('.')[0]) >= 24) return candidate;
  }
  throw new Error('No Node 24 found: run through `npm run bench -- bundles`');
}

const IMPORT_PROBE = `
const { pathToFileURL } = await import('node:url');
const before = process.cpuUsage();
await import(pathToFileURL(process.env.BENCH_BUNDLE).href);
const used = process.cpuUsage(before);
process.stdout.write(JSON.stringify((used.user + used.system) / 1000));
process.exit(0);
`;

/** Median and fastest of RUNS cold imports, each in a fresh process. */
function importCpuMs(node: string, bundle: string, env: Record<string, string>) {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const out = execFileSync(node, ['--input-type=module', '-e', IMPORT_PROBE], {
      env: { ...env, BENCH_BUNDLE: bundle },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    samples.push(Number(out));
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] ?? Number.NaN, min: samples[0] ?? Number.NaN };
}

/** Bytes each package contributes to the output: node_modules/<pkg> or @scope/pkg, else ours. */
function bytesByPackage(metafile: Metafile): Map<string, number> {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = m?.[1] ?? (input.startsWith('functions/') ? '(functions/)' : input);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return byPackage;
}

const kb = (bytes: number) => Math.round(bytes / 1024);
const node = node24();
const load = loadavg()[0] ?? 0;
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  ...EDGEOPS_FUNCTION_ENVIRONMENT,
  ...dummyEnvironment(),
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_LAMBDA_FUNCTION_NAME: 'bench',
  AWS_EC2_METADATA_DISABLED: 'true',
};
const options = esbuildOptions();
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

console.log(
  `Lambda bundles (${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()}, ` +
    `NODE_OPTIONS=${env.NODE_OPTIONS ?? '(none)'}, ${RUNS} cold imports each; ` +
    `goals ≤ ${GOAL_KB} KB, ≤ ${GOAL_IMPORT_MS} ms median)`,
);
// CPU time still grows when other processes share the cores (caches, frequency): say so.
if (load > availableParallelism()) {
  console.log(`Load average ${load.toFixed(1)} on ${availableParallelism()} cores: import times read high.`);
}
interface Row {
  readonly name: string;
  readonly bytes: number;
  readonly importMs: { readonly median: number; readonly min: number };
  readonly note: string;
}
const failed = (name: string, note: string): Row => ({
  name,
  bytes: Number.NaN,
  importMs: { median: Number.NaN, min: Number.NaN },
  note,
});
const rows: Row[] = [];
for (const entry of handlerEntries(functionsDir)) {
  const name = relative(functionsDir, entry).replace(/\.handler\.ts$/, '');
  const outfile = join(outDir, name, 'index.mjs');
  // Others may be mid-edit in a shared tree: a function that does not build is reported, not fatal.
  const metafile = await build({
    ...options,
    entryPoints: [entry],
    outfile,
    absWorkingDir: PROJECT_DIR,
  }).then(
    (result) => result.metafile,
    (error: { errors?: { text: string }[] }) => {
      rows.push(failed(name, `build failed: ${error.errors?.[0]?.text ?? String(error)}`));
      return undefined;
    },
  );
  if (!metafile) continue;
  writeFileSync(join(outDir, name, 'meta.json'), JSON.stringify(metafile));
  let importMs: Row['importMs'];
  try {
    importMs = importCpuMs(node, outfile, env);
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? error);
    rows.push(failed(name, `import failed: ${stderr.match(/^\w*Error.*$/m)?.[0] ?? stderr.slice(0, 200)}`));
    continue;
  }
  const top = [...bytesByPackage(metafile)]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([pkg, bytes]) => `${pkg} ${kb(bytes)}`)
    .join(', ');
  rows.push({ name, bytes: statSync(outfile).size, importMs, note: top });
}

const width = Math.max(...rows.map((r) => r.name.length));
const fixed = (n: number) => (Number.isNaN(n) ? '-' : n.toFixed(0));
console.log(
  `${'function'.padEnd(width)}  ${'KB'.padStart(5)}  ${'import ms'.padStart(9)}  ${'(min)'.padStart(5)}  over goal`,
);
for (const { name, bytes, importMs } of rows) {
  const over = Number.isNaN(bytes)
    ? ['see below']
    : [bytes > GOAL_KB * 1024 ? 'size' : '', importMs.median > GOAL_IMPORT_MS ? 'import' : ''].filter(
        Boolean,
      );
  console.log(
    `${name.padEnd(width)}  ${fixed(bytes / 1024).padStart(5)}  ${fixed(importMs.median).padStart(9)}  ` +
      `${fixed(importMs.min).padStart(5)}  ${over.join(', ') || '-'}`,
  );
}
const overGoal = rows.filter((r) => !(r.bytes <= GOAL_KB * 1024 && r.importMs.median <= GOAL_IMPORT_MS));
console.log(`${overGoal.length} of ${rows.length} functions over a goal.`);
console.log('\nLargest packages per bundle (KB in the minified output):');
for (const { name, note } of rows) console.log(`${name.padEnd(width)}  ${note}`);
console.log(`Bundles and metafiles under ${relative(PROJECT_DIR, outDir)}/`);
