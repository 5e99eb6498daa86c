import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { EdgeOpsFunction } from '../../lib/edgeops-function';
import { withOutdir } from './synth';

/** The bundle CDK builds for one EdgeOps function (a DynamoDB-only API handler), read back from the assembly. */
let bundle = '';
let bundleBytes = 0;
beforeAll(() => {
  withOutdir((outdir) => {
    const app = new App({ outdir });
    const stack = new Stack(app, 'Bundles');
    new EdgeOpsFunction(stack, 'GetDevice', { handlerFile: 'operator-api/get-device.handler.ts' });
    const [fn] = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function'));
    const code = fn?.Properties?.Code as { S3Key: string } | undefined;
    if (!code) throw new Error('no function in the template');
    const file = join(outdir, `asset.${code.S3Key.replace(/\.zip$/, '')}`, 'index.mjs');
    bundle = readFileSync(file, 'utf8');
    bundleBytes = statSync(file).size;
  });
});

describe('EdgeOpsFunction bundles', () => {
  it('stay within 300 KB for a DynamoDB-only handler', () => {
    expect(bundleBytes).toBeLessThanOrEqual(300 * 1024);
  });

  it('take credentials from the environment only, without the rest of the default chain', () => {
    expect(bundle).toContain('@aws-sdk/credential-provider-env - fromEnv');
    expect(bundle).not.toContain('@aws-sdk/credential-provider-ini');
    expect(bundle).not.toContain('@aws-sdk/credential-provider-sso');
  });

  it('carry no AWS event-stream codec, which no function uses (no-event-streams.ts)', () => {
    expect(bundle).toContain('AWS event streams are not bundled into EdgeOps Lambdas');
    expect(bundle).not.toContain(':message-type');
  });

  it("carry only the SDK commands a handler sends (the SDK's ES module build, which tree-shakes)", () => {
    expect(bundle).toContain('GetItem');
    // An operation the fleet store never calls; the CommonJS build would bring every one.
    expect(bundle).not.toContain('DescribeContributorInsights');
  });
});
