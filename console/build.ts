/**
 * Builds the console into a folder of static files: index.html, styles.css and app.js (one
 * esbuild bundle of console/src, minified). Synchronous, so a CDK construct can call it during
 * synthesis as NodejsFunction bundles Lambdas, and the local server before it listens.
 * `config.json` is not part of the build: each deployment writes its own.
 *
 * Run directly (`npm run build:console [outDir]`) to build into console/dist.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const CONSOLE_DIR = fileURLToPath(new URL('.', import.meta.url));
export const STATIC_FILES = ['index.html', 'styles.css'] as const;

/** Builds into `outDir` (created if missing) and returns it. */
export function buildConsole(outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const result = buildSync({
    entryPoints: [join(CONSOLE_DIR, 'src', 'main.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  if (result.errors.length > 0)
    throw new Error(`The console did not build: ${result.errors.map((e) => e.text).join('; ')}`);
  for (const file of STATIC_FILES) copyFileSync(join(CONSOLE_DIR, file), join(outDir, file));
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(CONSOLE_DIR, 'dist'));
  buildConsole(outDir);
  console.log(`Console built into ${outDir}`);
}
