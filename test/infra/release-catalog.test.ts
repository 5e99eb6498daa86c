import { App, Size, Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { UserPool } from 'aws-cdk-lib/aws-cognito';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { FleetStore } from '../../lib/fleet-store';
import { OperatorApi } from '../../lib/operator-api';
import { ReleaseCatalog } from '../../lib/release-catalog';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  actionsCover,
  asList,
  functionGrants,
  functionId,
  identityPolicyStatements,
  outputTarget,
  render,
  resource,
  resourcesOfType,
  roleOfFunction,
  roleStatements,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
/** What `Tracing.ACTIVE` adds to every function role; X-Ray has no resource-level permissions. */
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

const fleetTable = (stage: StageName) => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
const bucket = (stage: StageName) => `<${outputTarget(template(stage), 'ArtifactBucketName')}.Arn>`;
const artifactObjects = (stage: StageName) => `${bucket(stage)}/artifacts/*`;
const environmentOf = (stage: StageName, fn: string) =>
  (
    resource(template(stage), functionId(template(stage), fn)).Properties?.Environment as
      | { Variables?: Record<string, unknown> }
      | undefined
  )?.Variables ?? {};

/** Each API method as `VERB /path` → the logical id of the Lambda it integrates with. */
function routes(t: Template): Record<string, string> {
  const resources = resourcesOfType(t, 'AWS::ApiGateway::Resource');
  const pathOf = (resourceId: string): string => {
    const res = resources[resourceId];
    if (!res) return '';
    const parent = render(res.Properties?.ParentId).replace(/^<(.+)>$/, '$1');
    return `${pathOf(parent)}/${String(res.Properties?.PathPart)}`;
  };
  const entries = Object.values(resourcesOfType(t, 'AWS::ApiGateway::Method'))
    .filter((method) => method.Properties?.HttpMethod !== 'OPTIONS')
    .map((method) => {
      const resourceId = render(method.Properties?.ResourceId).replace(/^<(.+)>$/, '$1');
      const uri = render((method.Properties?.Integration as { Uri?: unknown } | undefined)?.Uri);
      const target = /<([A-Za-z0-9]+)\.Arn>/.exec(uri)?.[1] ?? uri;
      return [`${String(method.Properties?.HttpMethod)} ${pathOf(resourceId) || '/'}`, target];
    });
  return Object.fromEntries(entries);
}

describe('release catalog routes', () => {
  it.each([
    ['POST /artifacts', 'CreateArtifact'],
    ['GET /artifacts/{artifactId}', 'GetArtifact'],
    ['POST /artifacts/{artifactId}/complete', 'CompleteArtifactUpload'],
    ['POST /releases', 'CreateRelease'],
    ['GET /releases', 'ListReleases'],
    ['GET /releases/{releaseId}', 'GetRelease'],
  ])('serves %s with its own %s Lambda', (route, fn) => {
    expect(routes(template('aws'))[route]).toBe(functionId(template('aws'), fn));
  });

  it('offers no route that updates or deletes a release or an artifact', () => {
    const changing = Object.keys(routes(template('aws'))).filter((route) =>
      /^(PUT|PATCH|DELETE) \/(releases|artifacts)/.test(route),
    );

    expect(changing).toEqual([]);
  });
});

describe.each(STAGE_NAMES)('release catalog execution roles in the %s stage', (stage) => {
  it('lets CreateArtifact only record artifacts and write objects under artifacts/', () => {
    expect(functionGrants(template(stage), 'CreateArtifact')).toEqual(
      [
        `dynamodb:PutItem on ${fleetTable(stage)}`,
        `s3:PutObject on ${artifactObjects(stage)}`,
        ...TRACING,
      ].sort(),
    );
  });

  it('lets CompleteArtifactUpload assemble uploads, list artifacts/ and invoke only the seal function', () => {
    const seal = functionId(template(stage), 'SealArtifact');

    expect(functionGrants(template(stage), 'CompleteArtifactUpload')).toEqual(
      [
        `dynamodb:GetItem on ${fleetTable(stage)}`,
        `dynamodb:UpdateItem on ${fleetTable(stage)}`,
        `lambda:InvokeFunction on <${seal}.Arn>`,
        `s3:ListBucket on ${bucket(stage)}`,
        `s3:PutObject on ${artifactObjects(stage)}`,
        ...TRACING,
      ].sort(),
    );
  });

  it('lets CompleteArtifactUpload list only keys under artifacts/', () => {
    const t = template(stage);
    const role = roleOfFunction(t, functionId(t, 'CompleteArtifactUpload'));
    const listing = roleStatements(t, role).filter((statement) => actionsCover(statement, 's3:ListBucket'));

    expect(listing).toEqual([
      expect.objectContaining({ Condition: { StringLike: { 's3:prefix': 'artifacts/*' } } }),
    ]);
  });

  it('lets SealArtifact only read current objects under artifacts/ and update artifact records', () => {
    expect(functionGrants(template(stage), 'SealArtifact')).toEqual(
      [
        `dynamodb:GetItem on ${fleetTable(stage)}`,
        `dynamodb:UpdateItem on ${fleetTable(stage)}`,
        `s3:GetObject on ${artifactObjects(stage)}`,
        ...TRACING,
      ].sort(),
    );
  });

  it.each(['GetArtifact', 'GetRelease'])('lets %s only get single items', (fn) => {
    expect(functionGrants(template(stage), fn)).toEqual([
      `dynamodb:GetItem on ${fleetTable(stage)}`,
      ...TRACING,
    ]);
  });

  it('lets CreateRelease only read artifacts and put items (no update, no delete)', () => {
    expect(functionGrants(template(stage), 'CreateRelease')).toEqual(
      [
        `dynamodb:GetItem on ${fleetTable(stage)}`,
        `dynamodb:PutItem on ${fleetTable(stage)}`,
        ...TRACING,
      ].sort(),
    );
  });

  it('lets ListReleases only query the table itself, not scan it', () => {
    expect(functionGrants(template(stage), 'ListReleases')).toEqual(
      [`dynamodb:Query on ${fleetTable(stage)}`, ...TRACING].sort(),
    );
  });

  it('lets only CreateArtifact and CompleteArtifactUpload write artifact objects', () => {
    const t = template(stage);
    // Any grant that reaches a key under artifacts/ (the delta builder writes only deltas/*).
    const reachesArtifacts = (arn: string) =>
      arn === '*' || arn === `${bucket(stage)}/*` || arn.startsWith(`${bucket(stage)}/artifacts/`);
    const writers = identityPolicyStatements(t)
      .filter(
        ({ statement }) =>
          statement.Effect === 'Allow' &&
          actionsCover(statement, 's3:PutObject') &&
          asList(statement.Resource).map(render).some(reachesArtifacts),
      )
      .map(({ source }) => source)
      .sort();
    const policyOf = (fn: string) =>
      Object.entries(resourcesOfType(t, 'AWS::IAM::Policy'))
        .filter(([, policy]) =>
          asList(policy.Properties?.Roles).some(
            (r) => render(r) === `<${roleOfFunction(t, functionId(t, fn))}>`,
          ),
        )
        .map(([id]) => id);

    expect(writers).toEqual([...policyOf('CompleteArtifactUpload'), ...policyOf('CreateArtifact')].sort());
  });
});

describe.each(STAGE_NAMES)('artifact upload settings in the %s stage', (stage) => {
  it('presigns upload URLs that expire after one hour', () => {
    expect(environmentOf(stage, 'CreateArtifact').UPLOAD_URL_TTL_SECONDS).toBe('3600');
  });

  it('lets the seal run up to 15 minutes and retries it twice when it fails', () => {
    const t = template(stage);
    const seal = functionId(t, 'SealArtifact');
    const invokeConfigs = Object.values(resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig')).filter(
      (config) => render(config.Properties?.FunctionName) === `<${seal}>`,
    );

    expect(resource(t, seal).Properties?.Timeout).toBe(900);
    expect(invokeConfigs).toEqual([
      expect.objectContaining({ Properties: expect.objectContaining({ MaximumRetryAttempts: 2 }) }),
    ]);
  });
});

describe('multipart threshold', () => {
  it('is 64 MiB in the aws stage', () => {
    expect(environmentOf('aws', 'CreateArtifact').MULTIPART_THRESHOLD_BYTES).toBe(String(64 * 1024 * 1024));
  });

  it('is 8 MiB in the local stage, so e2e tests upload a multipart file of a few MiB', () => {
    expect(environmentOf('local', 'CreateArtifact').MULTIPART_THRESHOLD_BYTES).toBe(String(8 * 1024 * 1024));
  });

  it('cannot exceed the 5 GiB a single PUT may carry', () => {
    // No bundling: this only constructs, it never synthesizes.
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Catalog');
    const fleet = new FleetStore(stack, 'Fleet');
    const api = new OperatorApi(stack, 'Api', {
      fleet,
      userPool: new UserPool(stack, 'Pool'),
      devicePolicyName: 'devices',
      webAcl: false,
    });
    const bucket = new Bucket(stack, 'Artifacts');

    expect(
      () =>
        new ReleaseCatalog(stack, 'Catalog', { fleet, bucket, api, multipartThreshold: Size.gibibytes(6) }),
    ).toThrow(/5 GiB/);
  });
});
