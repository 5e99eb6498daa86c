import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export interface EdgeOpsFunctionProps extends Omit<NodejsFunctionProps, 'entry' | 'runtime'> {
  /** Entry file, relative to `functions/` (e.g. `operator-api/get-device.handler.ts`). */
  readonly handlerFile: string;
  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

const functionsDir = fileURLToPath(new URL('../functions/', import.meta.url));

/**
 * Environment every EdgeOps Lambda starts with (bench/bundles.ts measures imports with it).
 * No `--enable-source-maps`: Node then reads and decodes the whole map at import, 8-20 ms of every
 * cold start. Stack traces point into index.mjs; its map sits beside it in the asset (and in
 * cdk.out) to decode one, and a function can opt in with its own NODE_OPTIONS.
 */
export const EDGEOPS_FUNCTION_ENVIRONMENT: Readonly<Record<string, string>> = {
  POWERTOOLS_SERVICE_NAME: 'edgeops',
  POWERTOOLS_METRICS_NAMESPACE: 'EdgeOps',
};

/** How every EdgeOps Lambda is bundled (bench/bundles.ts builds with the same options). */
export const EDGEOPS_BUNDLING = {
  format: OutputFormat.ESM,
  target: 'node24',
  minify: true,
  sourceMap: true,
  // Positions map to file and line without the sources inside the map (a third of its size).
  sourcesContent: false,
  externalModules: [],
  // The SDK's ES module builds (dist-es), which esbuild can tree-shake to the commands a function
  // sends; esbuild's default for Node (main first) takes the CommonJS build of every command.
  mainFields: ['module', 'main'],
  // ESM bundles of CommonJS dependencies still call require(); give them one.
  banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  esbuildArgs: {
    '--alias': [
      // Credentials from the environment only, as Lambda provides them (see env-credentials.ts).
      `@aws-sdk/credential-provider-node=${functionsDir}shared/clients/env-credentials.ts`,
      // No event-stream codec: no function sends or reads one (see no-event-streams.ts).
      `@smithy/core/event-streams=${functionsDir}shared/clients/no-event-streams.ts`,
      // No glob matcher: only TUF delegations use it, and we sign none (see no-minimatch.ts).
      `minimatch=${functionsDir}shared/clients/no-minimatch.ts`,
    ],
  },
} as const satisfies BundlingOptions;

/**
 * Every EdgeOps Lambda: Node 24 on arm64, bundled by esbuild with the AWS SDK inside (the bundle
 * pins the SDK version we test with), structured JSON logs into a log group with a retention,
 * and X-Ray tracing on.
 */
export class EdgeOpsFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: EdgeOpsFunctionProps) {
    const { handlerFile, logRetention, environment, bundling, ...rest } = props;
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      entry: `${functionsDir}${handlerFile}`,
      handler: 'handler',
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 512,
      timeout: Duration.seconds(15),
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: { ...EDGEOPS_FUNCTION_ENVIRONMENT, ...environment },
      bundling: { ...EDGEOPS_BUNDLING, ...bundling },
      ...rest,
    });
    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'AWSLambdaBasicExecutionRole only allows writing CloudWatch logs.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only for actions without resource-level permissions: X-Ray PutTraceSegments/PutTelemetryRecords, ' +
          'and where granted, iot:CreateCertificateFromCsr, iot:CreateKeysAndCertificate and iot:DescribeEndpoint.',
      },
    );
  }
}
