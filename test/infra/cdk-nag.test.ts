import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp, STAGE_NAMES, type StageName, withOutdir } from './synth';

/** The parts of `validation-report.json` (written into the cloud assembly by every synth) we read. */
interface ValidationReport {
  readonly pluginReports: readonly {
    readonly pluginName: string;
    readonly violations: readonly {
      readonly ruleName: string;
      readonly severity?: string;
      readonly violatingConstructs: readonly { readonly constructPath: string }[];
    }[];
  }[];
}

interface NagRun {
  /** Whether CDK called the AwsSolutions pack at all: without this a clean result proves nothing. */
  readonly ran: boolean;
  /** The message `app.synth()` failed with, as `cdk synth` would print it. */
  readonly synthError: string | undefined;
  /** Unacknowledged AwsSolutions errors from the validation report, as `rule at construct path`. */
  readonly errors: readonly string[];
}

/**
 * Registers AwsSolutionsChecks on an app the way bin/edgeops.ts does, synthesizes it, and reads
 * the outcome where CDK puts it: a thrown error and the assembly's validation-report.json.
 */
function runAwsSolutionsChecks(app: App): NagRun {
  const checks = new AwsSolutionsChecks(app);
  const validate = vi.spyOn(checks, 'validate');
  Validations.of(app).addPlugins(checks);

  let synthError: string | undefined;
  try {
    app.synth();
  } catch (error) {
    synthError = error instanceof Error ? error.message : String(error);
  }

  const report = JSON.parse(
    readFileSync(join(app.outdir, 'validation-report.json'), 'utf8'),
  ) as ValidationReport;
  const errors = report.pluginReports
    .filter((pluginReport) => pluginReport.pluginName === checks.name)
    .flatMap((pluginReport) => pluginReport.violations)
    .filter((violation) => violation.severity === 'error')
    .flatMap((violation) =>
      violation.violatingConstructs.map(({ constructPath }) => `${violation.ruleName} at ${constructPath}`),
    );
  return { ran: validate.mock.calls.length > 0, synthError, errors };
}

describe('AwsSolutions checks on the EdgeOps stack', () => {
  const runs = new Map<StageName, NagRun>();
  beforeAll(() => {
    // One assembly directory for both stages, so each Lambda is bundled once.
    withOutdir((outdir) => {
      for (const stage of STAGE_NAMES) {
        runs.set(stage, runAwsSolutionsChecks(buildApp(stage, outdir).app));
      }
    });
  });

  it.each(STAGE_NAMES)('synthesizes the %s stage without an unacknowledged error', (stage) => {
    const run = runs.get(stage);

    expect(run?.ran).toBe(true);
    expect(run?.synthError).toBeUndefined();
    expect(run?.errors).toEqual([]);
  });
});

describe('AwsSolutions checks on a non-compliant stack', () => {
  it('report AwsSolutions-S1 and fail synth for an unencrypted, unversioned bucket without access logs', () => {
    const run = withOutdir((outdir) => {
      const app = new App({ outdir, context: { '@aws-cdk/core:appMode': 'inmemory' } });
      // No encryption configured, no versioning, no access logs, no TLS-only policy.
      new Bucket(new Stack(app, 'Careless'), 'Unprotected');
      return runAwsSolutionsChecks(app);
    });

    expect(run.ran).toBe(true);
    expect(run.errors).toContain('AwsSolutions-S1 at Careless/Unprotected/Resource');
    expect(run.synthError).toMatch(/AwsSolutions-S1/);
  });
});
