import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { UserPool } from 'aws-cdk-lib/aws-cognito';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { OperatorConsole } from '../../lib/operator-console';
import { withOutdir } from './synth';

/** The parts of CloudFront's distribution config these tests read. */
interface Behavior {
  PathPattern?: string;
  ViewerProtocolPolicy: string;
  CachePolicyId: string;
  OriginRequestPolicyId?: string;
  ResponseHeadersPolicyId?: unknown;
  FunctionAssociations?: { EventType: string; FunctionARN: unknown }[];
  TargetOriginId: string;
}
interface DistributionConfig {
  DefaultCacheBehavior: Behavior;
  CacheBehaviors: Behavior[];
  Origins: {
    Id: string;
    DomainName: unknown;
    OriginAccessControlId?: unknown;
    S3OriginConfig?: { OriginAccessIdentity?: string };
    CustomOriginConfig?: { OriginProtocolPolicy: string; OriginSSLProtocols: string[] };
  }[];
  Logging?: { Bucket: unknown };
}

// AWS managed policy ids (CloudFront developer guide, "managed cache/origin request policies").
const CACHING_DISABLED = '4135ea2d-6df8-44a3-9df3-4b5a84be39ad';
const ALL_VIEWER_EXCEPT_HOST_HEADER = 'b689b0a8-53d0-40ab-baf2-68738e2966ac';

/** The feature flags `cdk synth` reads (cdk.json), as test/infra/synth.ts uses them. */
const cdkJsonContext = (
  JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context?: Record<string, unknown>;
  }
).context;

/** The construct alone in a stack, with a minimal API and user pool; nag findings as `rule at path`. */
let template: Template;
let nagErrors: string[] = [];
let nagRan = false;
let synthError: string | undefined;
beforeAll(() => {
  withOutdir((outdir) => {
    const app = new App({ outdir, context: { ...cdkJsonContext, '@aws-cdk/core:appMode': 'inmemory' } });
    // Environment-agnostic, as bin/edgeops.ts makes the stack: CDK's own grants name its asset
    // bucket with ${AWS::AccountId} and ${AWS::Region}, which the acknowledgements must match.
    const stack = new Stack(app, 'ConsoleHosting');
    const api = new RestApi(stack, 'Api', { deploy: true });
    api.root.addMethod('GET', new MockIntegration());
    const userPool = new UserPool(stack, 'Pool');
    new OperatorConsole(stack, 'Console', { api, userPool, userPoolClient: userPool.addClient('Client') });
    // The sample API and pool stand in for the stack's, which cdk-nag.test.ts checks.
    for (const [scope, ids] of [
      [api, ['APIG1', 'APIG2', 'APIG3', 'APIG4', 'APIG6', 'COG4']],
      [userPool, ['COG1', 'COG2', 'COG3', 'COG8']],
    ] as const)
      for (const id of ids)
        Validations.of(scope).acknowledge({ id: `AwsSolutions-${id}`, reason: 'Test stand-in' });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: 'Test stand-in',
    });
    // Before the first synth (Template.fromStack synthesizes too): validation runs only then.
    const checks = new AwsSolutionsChecks(app);
    const validate = checks.validate.bind(checks);
    checks.validate = (context) => {
      nagRan = true;
      return validate(context);
    };
    Validations.of(app).addPlugins(checks);
    try {
      app.synth();
    } catch (error) {
      synthError = String(error);
    }
    template = Template.fromStack(stack);
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: {
        violations: {
          ruleName: string;
          severity?: string;
          violatingConstructs: { constructPath: string }[];
        }[];
      }[];
    };
    nagErrors = report.pluginReports
      .flatMap((r) => r.violations)
      // The sample API and pool stand in for the stack's (checked in cdk-nag.test.ts).
      .filter((v) => v.severity === 'error')
      .flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} at ${c.constructPath}`))
      .filter((line) => / at ConsoleHosting\/(Console|Custom::CDKBucketDeployment)/.test(line));
  });
});

const distribution = () => {
  const [resource] = Object.values(template.findResources('AWS::CloudFront::Distribution'));
  return resource?.Properties?.DistributionConfig as DistributionConfig;
};
const apiBehavior = () => distribution().CacheBehaviors.find((b) => b.PathPattern === '/api/*');
const siteBucketId = () => {
  const ids = Object.keys(
    template.findResources('AWS::S3::Bucket', {
      Properties: { LoggingConfiguration: { LogFilePrefix: 'console-site/' } },
    }),
  );
  expect(ids).toHaveLength(1);
  return ids[0] as string;
};

describe('OperatorConsole: the site bucket', () => {
  it('blocks all public access and encrypts at rest', () => {
    const bucket = template.toJSON().Resources[siteBucketId()].Properties;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(
      bucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault,
    ).toEqual({
      SSEAlgorithm: 'AES256',
    });
  });

  it('denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: siteBucketId() },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('lets only this distribution read it, through origin access control (no OAI, no public read)', () => {
    const [policy] = Object.values(
      template.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: siteBucketId() } } }),
    );
    const allows = ((policy?.Properties.PolicyDocument.Statement ?? []) as Record<string, unknown>[]).filter(
      (s) => s.Effect === 'Allow',
    );
    // The deployment's own role writes through IAM, not through the bucket policy.
    expect(allows).toHaveLength(1);
    expect(allows[0]).toMatchObject({
      Action: 's3:GetObject',
      Principal: { Service: 'cloudfront.amazonaws.com' },
      Condition: { StringEquals: { 'AWS:SourceArn': expect.anything() } },
    });
    const s3Origin = distribution().Origins.find((o) => o.OriginAccessControlId !== undefined);
    expect(s3Origin).toBeDefined();
    expect(s3Origin?.S3OriginConfig?.OriginAccessIdentity ?? '').toBe('');
    template.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always' },
    });
  });

  it('writes server access logs to the access-log bucket', () => {
    const logging = template.toJSON().Resources[siteBucketId()].Properties.LoggingConfiguration;
    expect(logging.DestinationBucketName).toEqual({ Ref: expect.stringMatching(/^ConsoleAccessLogs/) });
  });
});

describe('OperatorConsole: the distribution', () => {
  it('never serves over plain HTTP: the app redirects to HTTPS, the API path refuses HTTP', () => {
    expect(distribution().DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(apiBehavior()?.ViewerProtocolPolicy).toBe('https-only');
    const all = [distribution().DefaultCacheBehavior, ...distribution().CacheBehaviors];
    expect(all.filter((b) => b.ViewerProtocolPolicy === 'allow-all')).toEqual([]);
  });

  it('sends security headers on the app and the API: CSP, HSTS, nosniff, DENY framing, no referrer', () => {
    template.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: {
        SecurityHeadersConfig: {
          ContentSecurityPolicy: {
            ContentSecurityPolicy: Match.anyValue(),
            Override: true,
          },
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
          ReferrerPolicy: { ReferrerPolicy: 'no-referrer', Override: true },
          StrictTransportSecurity: Match.objectLike({
            AccessControlMaxAgeSec: 63072000,
            IncludeSubdomains: true,
          }),
        },
      },
    });
    const [policy] = Object.values(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    const csp = JSON.stringify(
      policy?.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy,
    );
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("connect-src 'self' https://cognito-idp.");
    expect(distribution().DefaultCacheBehavior.ResponseHeadersPolicyId).toBeDefined();
    expect(apiBehavior()?.ResponseHeadersPolicyId).toEqual(
      distribution().DefaultCacheBehavior.ResponseHeadersPolicyId,
    );
  });

  it('routes /api/* to API Gateway uncached, with Authorization but not Host, over TLS 1.2', () => {
    const behavior = apiBehavior();
    expect(behavior?.CachePolicyId).toBe(CACHING_DISABLED);
    expect(behavior?.OriginRequestPolicyId).toBe(ALL_VIEWER_EXCEPT_HOST_HEADER);
    const origin = distribution().Origins.find((o) => o.Id === behavior?.TargetOriginId);
    expect(origin?.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });
    expect(behavior?.FunctionAssociations?.map((f) => f.EventType)).toEqual(['viewer-request']);
  });

  it("strips /api from the path before API Gateway sees it, and only a whole '/api' segment", () => {
    const [fn] = Object.values(template.findResources('AWS::CloudFront::Function'));
    const code = fn?.Properties.FunctionCode as string;
    const rewrite = (uri: string) =>
      (runInNewContext(`${code}\nhandler({ request: { uri: ${JSON.stringify(uri)} } })`) as { uri: string })
        .uri;

    expect(rewrite('/api/devices')).toBe('/devices');
    expect(rewrite('/api/rollouts/ro-0123456789ab/pause')).toBe('/rollouts/ro-0123456789ab/pause');
    expect(rewrite('/api')).toBe('/');
    expect(rewrite('/apiary')).toBe('/apiary');
  });

  it('logs viewer requests to a bucket that accepts CloudFront log delivery', () => {
    expect(distribution().Logging?.Bucket).toBeDefined();
    template.hasResourceProperties('AWS::S3::Bucket', {
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerPreferred' }] },
      LoggingConfiguration: { LogFilePrefix: 'console-distribution-logs/' },
    });
  });

  it('serves index.html at the root and rewrites no error to it (API errors stay API errors)', () => {
    const config = distribution() as DistributionConfig & {
      DefaultRootObject?: string;
      CustomErrorResponses?: unknown;
    };
    expect(config.DefaultRootObject).toBe('index.html');
    expect(config.CustomErrorResponses).toBeUndefined();
  });
});

describe('OperatorConsole: deployment', () => {
  it('copies the build and a config.json into the site bucket and invalidates the cache', () => {
    template.hasResourceProperties('Custom::CDKBucketDeployment', {
      DestinationBucketName: { Ref: siteBucketId() },
      DistributionPaths: ['/*'],
      Prune: true,
      RetainOnDelete: false,
    });
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment'));
    // Two sources: the built app, and config.json with the pool and client filled in at deploy time.
    expect(deployment?.Properties.SourceObjectKeys).toHaveLength(2);
    const markers = JSON.stringify(deployment?.Properties.SourceMarkers);
    expect(markers).toMatch(/"Ref":"Pool[0-9A-F]{8}"/);
    expect(markers).toMatch(/"Ref":"PoolClient[0-9A-F]{8}"/);
  });

  it('passes cdk-nag AwsSolutions with no unacknowledged error', () => {
    expect(synthError).toBeUndefined();
    expect(nagRan).toBe(true);
    expect(nagErrors).toEqual([]);
  });
});
