/**
 * schemathesis, the OpenAPI fuzzer the e2e suite runs against the deployed operator API: installed
 * at a pinned version from PyPI into the project's venv (the one MiniStack lives in; its packages
 * only add to MiniStack's, none replaces one), so a fresh clone gets it from `npm test` alone.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIME_DIR } from './ministack';
import { python, runSupervised } from './supervised';

export const SCHEMATHESIS_VERSION = '4.32.5';
const VENV_DIR = join(RUNTIME_DIR, 'venv');
export const SCHEMATHESIS_BIN = join(VENV_DIR, 'bin', 'schemathesis');

/** The schemathesis version in the venv, read from pip's metadata (no process to start). */
function installedVersion(): string | undefined {
  if (!existsSync(SCHEMATHESIS_BIN)) return undefined;
  try {
    for (const lib of readdirSync(join(VENV_DIR, 'lib'))) {
      const sitePackages = join(VENV_DIR, 'lib', lib, 'site-packages');
      const dist = readdirSync(sitePackages).find((entry) => /^schemathesis-.+\.dist-info$/.test(entry));
      if (dist) return dist.slice('schemathesis-'.length, -'.dist-info'.length);
    }
  } catch {}
  return undefined;
}

/** Installs the pinned schemathesis into the venv (making the venv if MiniStack has not yet). */
export async function installSchemathesis(
  options: { readonly log?: (line: string) => void; readonly signal?: AbortSignal } = {},
): Promise<string> {
  if (installedVersion() === SCHEMATHESIS_VERSION) return SCHEMATHESIS_BIN;
  const { log = console.log, signal } = options;
  log(`Installing schemathesis ${SCHEMATHESIS_VERSION} into ${VENV_DIR} ...`);
  if (!existsSync(join(VENV_DIR, 'bin', 'pip')))
    await runSupervised(python(), ['-m', 'venv', VENV_DIR], { stdio: 'inherit', signal });
  await runSupervised(
    join(VENV_DIR, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`],
    { stdio: 'inherit', signal },
  );
  return SCHEMATHESIS_BIN;
}
