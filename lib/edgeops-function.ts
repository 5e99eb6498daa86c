import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
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
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'edgeops',
        POWERTOOLS_METRICS_NAMESPACE: 'EdgeOps',
        ...environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        minify: true,
        sourceMap: true,
        externalModules: [],
        // ESM bundles of CommonJS dependencies still call require(); give them one.
        banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
        ...bundling,
      },
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
          'and where granted, iot:CreateKeysAndCertificate and iot:DescribeEndpoint.',
      },
    );
  }
}
