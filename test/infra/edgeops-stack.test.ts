import { Match } from 'aws-cdk-lib/assertions';
import { AwsCustomResource } from 'aws-cdk-lib/custom-resources';
import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  actionsCover,
  allowsAction,
  asList,
  functionGrants,
  functionId,
  identityPolicyStatements,
  outputTarget,
  type PolicyStatement,
  render,
  resource,
  resourcesOfType,
  roleOfFunction,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
/** The resource a stack output publishes: "the" table, bucket, key, pool, policy or queue. */
const published = (stage: StageName, outputName: string) =>
  resource(template(stage), outputTarget(template(stage), outputName));

// biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT policy variable, verbatim.
const THING = '${iot:Connection.Thing.ThingName}';
const IOT_ARN = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>';
/** What `Tracing.ACTIVE` adds to every function role; X-Ray has no resource-level permissions. */
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];
const INGEST_FUNCTIONS = ['ShadowReportFunction', 'ConnectionEventFunction'] as const;
const BASIC_EXECUTION_ROLE = 'arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';
/** The queue an ingest function takes its events from (lib/device-gateway.ts). */
const fnQueue = (stage: StageName, fn: (typeof INGEST_FUNCTIONS)[number]) => {
  const queues = Object.keys(resourcesOfType(template(stage), 'AWS::SQS::Queue')).filter((id) =>
    id.startsWith(`DeviceGateway${fn.replace(/Function$/, 'Queue')}`),
  );
  expect(queues).toHaveLength(1);
  return String(queues[0]);
};
/**
 * CDK's AwsCustomResource provider (lib/job-execution-events.ts): one call per deployment, in
 * the aws stage only; not an EdgeOps function.
 */
const CUSTOM_RESOURCE_PROVIDER = `AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replaceAll('-', '')}`;

describe('fleet table', () => {
  it.each(STAGE_NAMES)('keeps point-in-time recovery on in the %s stage', (stage) => {
    const table = published(stage, 'FleetTableName');

    expect(table.Properties?.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  it.each(STAGE_NAMES)('encrypts items at rest in the %s stage', (stage) => {
    const table = published(stage, 'FleetTableName');

    expect(table.Properties?.SSESpecification).toMatchObject({ SSEEnabled: true });
  });

  it.each(STAGE_NAMES)('bills on demand in the %s stage', (stage) => {
    const table = published(stage, 'FleetTableName');

    expect(table.Properties?.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('is retained when the aws stack is deleted', () => {
    const table = published('aws', 'FleetTableName');

    expect(table.DeletionPolicy).toBe('Retain');
  });

  it('is deleted with the local stack', () => {
    const table = published('local', 'FleetTableName');

    expect(table.DeletionPolicy).toBe('Delete');
  });
});

describe('artifact bucket', () => {
  it('keeps every version of an object', () => {
    const bucket = published('aws', 'ArtifactBucketName');

    expect(bucket.Properties?.VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('encrypts objects at rest', () => {
    const bucket = published('aws', 'ArtifactBucketName');

    expect(bucket.Properties?.BucketEncryption).toMatchObject({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: expect.stringMatching(/^(AES256|aws:kms|aws:kms:dsse)$/),
          },
        },
      ],
    });
  });

  it('blocks every form of public access', () => {
    const bucket = published('aws', 'ArtifactBucketName');

    expect(bucket.Properties?.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('denies every request that does not use TLS', () => {
    const bucketId = outputTarget(template('aws'), 'ArtifactBucketName');
    const policies = Object.values(resourcesOfType(template('aws'), 'AWS::S3::BucketPolicy')).filter(
      (policy) => render(policy.Properties?.Bucket) === `<${bucketId}>`,
    );

    const tlsDenials = policies
      .flatMap((policy) => statementsOf(policy.Properties?.PolicyDocument))
      .filter(
        (statement) =>
          statement.Effect === 'Deny' &&
          ['"*"', '{"AWS":"*"}'].includes(JSON.stringify(statement.Principal)) &&
          statement.Condition?.Bool?.['aws:SecureTransport'] === 'false' &&
          ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'].every((action) =>
            actionsCover(statement, action),
          ),
      )
      .map((statement) => asList(statement.Resource).map(render).sort());

    expect(tlsDenials).toContainEqual([`<${bucketId}.Arn>`, `<${bucketId}.Arn>/*`]);
  });

  it('writes server access logs to a separate bucket', () => {
    const bucketId = outputTarget(template('aws'), 'ArtifactBucketName');
    const bucket = resource(template('aws'), bucketId);
    const logging = bucket.Properties?.LoggingConfiguration as
      | { DestinationBucketName?: unknown }
      | undefined;
    const destination = render(logging?.DestinationBucketName);

    expect(destination).toMatch(/^<[A-Za-z0-9]+>$/);
    expect(destination).not.toBe(`<${bucketId}>`);
    expect(resource(template('aws'), destination.slice(1, -1)).Type).toBe('AWS::S3::Bucket');
  });
});

describe('release trust: online signing keys', () => {
  const signingKeys = (stage: StageName) =>
    Object.entries(resourcesOfType(template(stage), 'AWS::KMS::Key')).filter(
      ([, key]) => key.Properties?.KeyUsage === 'SIGN_VERIFY',
    );
  const publisherRole = (stage: StageName) =>
    roleOfFunction(template(stage), functionId(template(stage), 'ReleaseTrustPublisher'));

  it.each(STAGE_NAMES)(
    'has one ECC P-256 signing key per generation (one by default) in the %s stage',
    (stage) => {
      const keys = signingKeys(stage);

      expect(keys).toHaveLength(1);
      for (const [, key] of keys) expect(key.Properties).toMatchObject({ KeySpec: 'ECC_NIST_P256' });
    },
  );

  it('retains its keys when the aws stack is deleted', () => {
    for (const [, key] of signingKeys('aws')) expect(key.DeletionPolicy).toBe('Retain');
  });

  it.each(STAGE_NAMES)('lets only the trust publisher sign, by IAM policy, in the %s stage', (stage) => {
    const signing = identityPolicyStatements(template(stage))
      .filter(({ statement }) => allowsAction(statement, 'kms:Sign'))
      .map(({ statement }) => render(statement.Resource));
    const publisherGrants = functionGrants(template(stage), 'ReleaseTrustPublisher').filter((g) =>
      g.startsWith('kms:'),
    );

    expect(signing).toHaveLength(1);
    expect(publisherGrants).toEqual(
      signingKeys(stage).flatMap(([id]) => [`kms:GetPublicKey on <${id}.Arn>`, `kms:Sign on <${id}.Arn>`]),
    );
  });

  it.each(STAGE_NAMES)(
    'denies kms:Sign in the key policy to every principal but the publisher (%s)',
    (stage) => {
      for (const [, key] of signingKeys(stage)) {
        const statements = statementsOf(key.Properties?.KeyPolicy);
        const deny = statements.find((statement) => statement.Effect === 'Deny');
        const allowed = statements
          .filter((statement) => statement.Effect === 'Allow')
          .map((statement) =>
            render((statement.Principal as { AWS?: unknown } | undefined)?.AWS ?? statement.Principal),
          );

        expect(new Set(allowed)).toEqual(new Set(['arn:<AWS::Partition>:iam::<AWS::AccountId>:root']));
        expect(deny).toMatchObject({ Action: 'kms:Sign', Principal: { AWS: '*' } });
        const condition = deny?.Condition as { ArnNotLike?: Record<string, unknown> } | undefined;
        expect(asList(condition?.ArnNotLike?.['aws:PrincipalArn']).map(render)).toEqual([
          `<${publisherRole(stage)}.Arn>`,
          `arn:<AWS::Partition>:sts::<AWS::AccountId>:assumed-role/<${publisherRole(stage)}>/*`,
        ]);
      }
    },
  );
});

describe('device IoT policy', () => {
  const deviceStatements = (): PolicyStatement[] => {
    const policy = published('aws', 'DevicePolicyName');
    return statementsOf(policy.Properties?.PolicyDocument);
  };

  it('scopes every allowed resource to the thing that connected', () => {
    const unscoped = deviceStatements()
      .filter((statement) => statement.Effect === 'Allow')
      .flatMap((statement) => asList(statement.Resource).map(render))
      .filter((resourceArn) => !resourceArn.includes(THING));

    expect(deviceStatements().length).toBeGreaterThan(0);
    expect(unscoped).toEqual([]);
  });

  it('lets a certificate connect only as the thing attached to it', () => {
    const connect = deviceStatements().filter((statement) => allowsAction(statement, 'iot:Connect'));

    expect(connect).toEqual([
      expect.objectContaining({ Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } } }),
    ]);
    expect(asList(connect[0]?.Resource).map(render)).toEqual([`${IOT_ARN}:client/${THING}`]);
  });

  it('uses no wildcard action and no bare * resource', () => {
    const wildcards = deviceStatements().flatMap((statement) => [
      ...asList(statement.Action).filter((action) => action.includes('*')),
      ...asList(statement.NotAction).map((action) => `NotAction ${action}`),
      ...asList(statement.Resource)
        .map(render)
        .filter((resourceArn) => resourceArn === '*'),
    ]);

    expect(wildcards).toEqual([]);
  });
});

describe('operator API', () => {
  it.each(STAGE_NAMES)('requires a Cognito user-pool token on every method in the %s stage', (stage) => {
    const userPool = outputTarget(template(stage), 'UserPoolId');
    const methods = Object.entries(resourcesOfType(template(stage), 'AWS::ApiGateway::Method')).filter(
      ([, method]) => method.Properties?.HttpMethod !== 'OPTIONS',
    );

    const unprotected = methods
      .filter(([, method]) => {
        const authorizerId = render(method.Properties?.AuthorizerId).replace(/^<(.+)>$/, '$1');
        const authorizer = resourcesOfType(template(stage), 'AWS::ApiGateway::Authorizer')[authorizerId];
        return !(
          method.Properties?.AuthorizationType === 'COGNITO_USER_POOLS' &&
          authorizer?.Properties?.Type === 'COGNITO_USER_POOLS' &&
          asList(authorizer.Properties.ProviderARNs).map(render).join() === `<${userPool}.Arn>`
        );
      })
      .map(([id]) => id);

    expect(methods.length).toBeGreaterThan(0);
    expect(unprotected).toEqual([]);
  });

  it.each(STAGE_NAMES)('writes access logs and X-Ray traces for the %s stage', (stage) => {
    template(stage).hasResourceProperties('AWS::ApiGateway::Stage', {
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      TracingEnabled: true,
    });
  });

  it('puts a WAF web ACL in front of the aws stage', () => {
    const [stageId] = Object.keys(resourcesOfType(template('aws'), 'AWS::ApiGateway::Stage'));
    const [webAclId] = Object.keys(resourcesOfType(template('aws'), 'AWS::WAFv2::WebACL'));

    template('aws').hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([{ Ref: stageId }])],
      }),
      WebACLArn: { 'Fn::GetAtt': [webAclId, 'Arn'] },
    });
  });

  it('filters the aws stage with AWS managed common rules and a per-IP rate limit', () => {
    template('aws').hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      Rules: Match.arrayWith([
        Match.objectLike({
          Statement: {
            ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' },
          },
        }),
        Match.objectLike({
          Action: { Block: {} },
          Statement: { RateBasedStatement: Match.objectLike({ AggregateKeyType: 'IP' }) },
        }),
      ]),
    });
  });

  it('has no web ACL in the local stage', () => {
    expect(resourcesOfType(template('local'), 'AWS::WAFv2::WebACL')).toEqual({});
    expect(resourcesOfType(template('local'), 'AWS::WAFv2::WebACLAssociation')).toEqual({});
  });
});

describe.each(STAGE_NAMES)('Lambda execution roles in the %s stage', (stage) => {
  const fleetTable = () => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;

  it('lets GetDevice only get single items from the fleet table', () => {
    expect(functionGrants(template(stage), 'GetDevice')).toEqual(
      [`dynamodb:GetItem on ${fleetTable()}`, ...TRACING].sort(),
    );
  });

  it('lets ListDevices only read its indexes, the ANOMALIES partition and device items (test/infra/fleet-queries.test.ts)', () => {
    expect(functionGrants(template(stage), 'ListDevices')).toEqual(
      [
        `dynamodb:BatchGetItem on ${fleetTable()}`,
        `dynamodb:Query on ${fleetTable()}`,
        `dynamodb:Query on ${fleetTable()}/index/bySite`,
        `dynamodb:Query on ${fleetTable()}/index/byCohort`,
        `dynamodb:Scan on ${fleetTable()}/index/bySite`,
        ...TRACING,
      ].sort(),
    );
  });

  it.each(INGEST_FUNCTIONS)('lets %s only update fleet items and take events from its queue', (fn) => {
    const ownQueue = `<${fnQueue(stage, fn)}.Arn>`;
    const consume = [
      'ChangeMessageVisibility',
      'DeleteMessage',
      'GetQueueAttributes',
      'GetQueueUrl',
      'ReceiveMessage',
    ];

    // A shadow report also reads the device's place (GetItem) and may create its cohort's entry (PutItem).
    const cohortGrants = fn === 'ShadowReportFunction' ? ['GetItem', 'PutItem'] : [];

    expect(functionGrants(template(stage), fn)).toEqual(
      [
        `dynamodb:UpdateItem on ${fleetTable()}`,
        ...cohortGrants.map((a) => `dynamodb:${a} on ${fleetTable()}`),
        ...consume.map((a) => `sqs:${a} on ${ownQueue}`),
        ...TRACING,
      ].sort(),
    );
  });

  it('attaches no managed policy but AWSLambdaBasicExecutionRole to any function role', () => {
    const managed = Object.keys(resourcesOfType(template(stage), 'AWS::Lambda::Function')).flatMap((fnId) =>
      asList(
        resource(template(stage), roleOfFunction(template(stage), fnId)).Properties?.ManagedPolicyArns,
      ).map((arn) => `${fnId}: ${render(arn)}`),
    );

    expect(managed.filter((line) => !line.endsWith(`: ${BASIC_EXECUTION_ROLE}`))).toEqual([]);
  });

  it('grants no action ending in :* in any IAM policy', () => {
    const wildcards = identityPolicyStatements(template(stage))
      .filter(({ statement }) => statement.Effect === 'Allow')
      .flatMap(({ source, statement }) => [
        ...asList(statement.Action)
          .filter((action) => action === '*' || action.endsWith(':*'))
          .map((action) => `${source}: ${action}`),
        ...asList(statement.NotAction).map((action) => `${source}: NotAction ${action}`),
      ]);

    expect(wildcards).toEqual([]);
  });
});

describe('RegisterDevice execution role', () => {
  const iotRegistry = {
    'thing/*': [
      'iot:AttachThingPrincipal',
      'iot:CreateThing',
      'iot:DeleteThing',
      'iot:DetachThingPrincipal',
      'iot:UpdateThingShadow',
    ],
    'cert/*': ['iot:AttachPolicy', 'iot:DeleteCertificate', 'iot:DetachPolicy', 'iot:UpdateCertificate'],
  };
  const unscopable = ['iot:CreateCertificateFromCsr', 'iot:CreateKeysAndCertificate', 'iot:DescribeEndpoint'];
  const fleetItems = (stage: StageName) => {
    const table = `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
    return ['DeleteItem', 'GetItem', 'PutItem', 'UpdateItem'].map(
      (action) => `dynamodb:${action} on ${table}`,
    );
  };

  it('grants IoT actions on * only where IoT has no resource-level permissions in the aws stage', () => {
    const onAnyResource = functionGrants(template('aws'), 'RegisterDevice').filter(
      (grant) => grant.startsWith('iot:') && grant.endsWith(' on *'),
    );

    expect(onAnyResource).toEqual(unscopable.map((action) => `${action} on *`));
  });

  /** Registration hands out the newest TUF root (lib/release-trust.ts). */
  const readTrustRoot = (stage: StageName) =>
    `s3:GetObject on <${outputTarget(template(stage), 'ArtifactBucketName')}.Arn>/tuf/*`;

  it('scopes IoT registry actions to thing/* and cert/* ARNs in the aws stage', () => {
    const scoped = Object.entries(iotRegistry).flatMap(([arn, actions]) =>
      actions.map((action) => `${action} on ${IOT_ARN}:${arn}`),
    );

    expect(functionGrants(template('aws'), 'RegisterDevice')).toEqual(
      [
        ...scoped,
        ...unscopable.map((action) => `${action} on *`),
        ...fleetItems('aws'),
        readTrustRoot('aws'),
        ...TRACING,
      ].sort(),
    );
  });

  it('grants the IoT registry actions on * in the local stage, which cannot evaluate ARNs', () => {
    const registry = [...Object.values(iotRegistry).flat(), ...unscopable];

    expect(functionGrants(template('local'), 'RegisterDevice')).toEqual(
      [
        ...registry.map((action) => `${action} on *`),
        ...fleetItems('local'),
        readTrustRoot('local'),
        ...TRACING,
      ].sort(),
    );
  });
});

describe('operator user pool', () => {
  const userPool = (stage: StageName) => published(stage, 'UserPoolId');

  it.each(STAGE_NAMES)('lets only admins create users in the %s stage', (stage) => {
    expect(userPool(stage).Properties?.AdminCreateUserConfig).toMatchObject({
      AllowAdminCreateUserOnly: true,
    });
  });

  it.each(STAGE_NAMES)('requires long passwords with every character class in the %s stage', (stage) => {
    const policy = (
      userPool(stage).Properties?.Policies as { PasswordPolicy?: Record<string, unknown> } | undefined
    )?.PasswordPolicy;

    expect(policy).toMatchObject({
      RequireLowercase: true,
      RequireUppercase: true,
      RequireNumbers: true,
      RequireSymbols: true,
    });
    expect(policy?.MinimumLength).toBeGreaterThanOrEqual(12);
  });

  it('requires a TOTP second factor in the aws stage', () => {
    expect(userPool('aws').Properties).toMatchObject({
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
    });
  });

  it('turns MFA off in the local stage', () => {
    expect(userPool('local').Properties?.MfaConfiguration).toBe('OFF');
  });

  it.each(['viewer', 'operator', 'admin'])('has the %s group', (group) => {
    template('aws').hasResourceProperties('AWS::Cognito::UserPoolGroup', {
      GroupName: group,
      UserPoolId: { Ref: outputTarget(template('aws'), 'UserPoolId') },
    });
  });
});

describe.each(STAGE_NAMES)('Lambda functions in the %s stage', (stage) => {
  const functions = () => Object.entries(resourcesOfType(template(stage), 'AWS::Lambda::Function'));

  it('run on Node.js 24', () => {
    const others = functions()
      .filter(([, fn]) => fn.Properties?.Runtime !== 'nodejs24.x')
      .map(([id, fn]) => `${id}: ${String(fn.Properties?.Runtime)}`);

    expect(functions().length).toBeGreaterThan(0);
    expect(others).toEqual([]);
  });

  it('trace actively with X-Ray (all but the deploy-time custom resource provider)', () => {
    const untraced = functions()
      .filter(([id]) => !id.startsWith(CUSTOM_RESOURCE_PROVIDER))
      .filter(([, fn]) => render(fn.Properties?.TracingConfig) !== '{"Mode":"Active"}')
      .map(([id]) => id);

    expect(functions().length).toBeGreaterThan(0);
    expect(untraced).toEqual([]);
  });
});
