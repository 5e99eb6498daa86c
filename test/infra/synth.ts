import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll } from 'vitest';
import { EdgeOpsStack, STAGES, type StageConfig } from '../../lib/edgeops-stack';

export type StageName = StageConfig['name'];

/** The feature flags `cdk synth` reads from cdk.json, so tests see the template that gets deployed. */
const cdkJsonContext = (
  JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context?: Record<string, unknown>;
  }
).context;

export interface BuiltApp {
  readonly app: App;
  readonly stack: EdgeOpsStack;
}

/**
 * The app as bin/edgeops.ts composes it (cdk.json context), environment-agnostic and minus
 * cdk-nag, which tests add when they want it.
 */
export function buildApp(stageName: StageName, outdir: string): BuiltApp {
  // In-memory mode makes a failed validation throw with the whole report instead of setting
  // process.exitCode, which would fail the test run without saying why.
  const app = new App({ outdir, context: { ...cdkJsonContext, '@aws-cdk/core:appMode': 'inmemory' } });
  const stack = new EdgeOpsStack(app, 'EdgeOps', { stage: STAGES[stageName] });
  return { app, stack };
}

/** Runs `use` with a fresh cloud-assembly directory and removes the directory afterwards. */
export function withOutdir<T>(use: (outdir: string) => T): T {
  const outdir = mkdtempSync(join(tmpdir(), 'edgeops-infra-'));
  try {
    return use(outdir);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Synthesizes the stack for one stage into `outdir` and returns its template. */
export function synthTemplate(stageName: StageName, outdir: string): Template {
  return Template.fromStack(buildApp(stageName, outdir).stack);
}

export const STAGE_NAMES = Object.keys(STAGES) as StageName[];

/**
 * Synthesizes the given stages once, in the calling file's `beforeAll`, and returns a lookup
 * for the tests: synthesis bundles every Lambda, far too slow to repeat per test. The stages
 * share one assembly directory so that CDK's asset cache bundles each Lambda only once.
 */
export function synthesizeOnce(...stageNames: StageName[]): (stageName: StageName) => Template {
  const templates = new Map<StageName, Template>();
  beforeAll(() => {
    withOutdir((outdir) => {
      for (const stageName of stageNames) templates.set(stageName, synthTemplate(stageName, outdir));
    });
  });
  return (stageName) => {
    const template = templates.get(stageName);
    if (!template) throw new Error(`Stage ${stageName} was not synthesized in this file`);
    return template;
  };
}
