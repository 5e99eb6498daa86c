/** Deploys the real CDK stack (local stage) into local AWS with the project's pinned CDK CLI. */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IoTClient, UpdateEventConfigurationsCommand } from '@aws-sdk/client-iot';
import { LOCAL_AWS_ENV, type LocalAws, localClientConfig, PROJECT_DIR, RUNTIME_DIR } from './ministack';
import { CommandFailedError, runSupervised } from './supervised';

export const LOCAL_ACCOUNT = '000000000000';

export interface StackOutputs {
  readonly ApiUrl: string;
  readonly UserPoolId: string;
  readonly UserPoolClientId: string;
  readonly FleetTableName: string;
  readonly ArtifactBucketName: string;
  readonly OnlineKeyArns: string;
  readonly TrustPublisherFunctionName: string;
  readonly DevicePolicyName: string;
  readonly DeadLetterQueueUrl: string;
  readonly TelemetryBucketName: string;
  readonly TelemetryGlueDatabase: string;
  readonly TelemetryHistoryTable: string;
  readonly TelemetryAthenaWorkGroup: string;
  readonly FleetAnalysisStateMachineArn: string;
  readonly FleetAlarmTopicArn: string;
  readonly DashboardName: string;
}

export interface DeployedStack {
  readonly stackName: string;
  readonly outputs: StackOutputs;
  /** The operator API's base URL as local AWS serves it (ends with '/'). */
  readonly apiUrl: string;
}

/** Environment for any AWS client (SDK, CDK CLI) talking to local AWS. */
export function localAwsEnv(aws: LocalAws): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...LOCAL_AWS_ENV,
    AWS_ENDPOINT_URL: aws.endpoint,
    CDK_DEFAULT_ACCOUNT: LOCAL_ACCOUNT,
    CDK_DEFAULT_REGION: LOCAL_AWS_ENV.AWS_REGION,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
  };
}

/**
 * The stack's ApiUrl names the AWS host (`https://{id}.execute-api.{region}.amazonaws.com/{stage}/`);
 * local AWS serves the same API under `/restapis/{id}/{stage}/_user_request_/`.
 */
export function localApiUrl(apiUrl: string, endpoint: string): string {
  const match = /^https:\/\/([a-z0-9]+)\.execute-api\.[^/]+\/([^/]+)\/?$/.exec(apiUrl);
  if (!match) throw new Error(`Unexpected ApiUrl output: ${apiUrl}`);
  return `${endpoint}/restapis/${match[1]}/${match[2]}/_user_request_/`;
}

export async function deployStack(
  aws: LocalAws,
  {
    stackName = 'EdgeOps',
    log = console.log,
    context = {},
    signal,
  }: {
    stackName?: string;
    log?: (line: string) => void;
    /** Stops the CDK CLI and everything it runs (synth, esbuild) when aborted. */
    signal?: AbortSignal;
    /** More CDK context (`-c key=value`), e.g. `onlineKeyGenerations: '1,2'`. */
    context?: Record<string, string>;
  } = {},
): Promise<DeployedStack> {
  const cdk = join(PROJECT_DIR, 'node_modules', '.bin', 'cdk');
  const env = localAwsEnv(aws);
  // One assembly folder per local AWS, so runs against different emulators never collide.
  const outDir = join(RUNTIME_DIR, 'cdk.out.local', new URL(aws.endpoint).port || 'default');
  const outputsFile = join(RUNTIME_DIR, `outputs-${stackName}.json`);
  mkdirSync(RUNTIME_DIR, { recursive: true });
  // The registration answer tells devices where local AWS's broker listens and which CA to trust.
  const ca = await fetch(`${aws.endpoint}/_ministack/iot/ca.pem`, { signal: signal ?? null });
  if (!ca.ok)
    throw new Error(`Local AWS gave no IoT CA (${aws.endpoint}/_ministack/iot/ca.pem: ${ca.status})`);
  const broker = {
    deviceMqttHost: aws.mqtt.host,
    deviceMqttPort: String(aws.mqtt.port),
    deviceCaCertificateBase64: Buffer.from(await ca.text()).toString('base64'),
  };
  const common = [
    '-c',
    'stage=local',
    ...Object.entries(broker).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    '-c',
    `stackName=${stackName}`,
    ...Object.entries(context).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    '--output',
    outDir,
    '--no-notices',
    '--ci',
  ];
  // Under the watchdog: Ctrl-C, or this process dying, stops cdk with its synth and esbuild children.
  const options = { cwd: PROJECT_DIR, env, ...(signal ? { signal } : {}) };
  try {
    log('Bootstrapping CDK in local AWS ...');
    await runSupervised(
      cdk,
      ['bootstrap', `aws://${LOCAL_ACCOUNT}/${LOCAL_AWS_ENV.AWS_REGION}`, ...common],
      options,
    );
    log(`Deploying stack ${stackName} ...`);
    await runSupervised(
      cdk,
      ['deploy', stackName, ...common, '--require-approval', 'never', '--outputs-file', outputsFile],
      options,
    );
  } catch (error) {
    if (!(error instanceof CommandFailedError)) throw error;
    throw new Error(`cdk failed:\n${error.stdout}\n${error.stderr}`);
  }
  const outputs = (JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, StackOutputs>)[stackName];
  if (!outputs) throw new Error(`No outputs for ${stackName} in ${outputsFile}`);
  await enableJobExecutionEvents(aws);
  return { stackName, outputs, apiUrl: localApiUrl(outputs.ApiUrl, aws.endpoint) };
}

/**
 * Turns on AWS IoT job execution events, which the rollout path reads. In AWS the stack does it
 * with a custom resource (lib/job-execution-events.ts); local AWS runs that resource's handler
 * without an AWS SDK to load, so the local stage leaves it out (`jobExecutionEventsFromStack`)
 * and the deployment does it here. Idempotent.
 */
async function enableJobExecutionEvents(aws: LocalAws): Promise<void> {
  const iot = new IoTClient(localClientConfig(aws));
  try {
    await iot.send(
      new UpdateEventConfigurationsCommand({ eventConfigurations: { JOB_EXECUTION: { Enabled: true } } }),
    );
  } finally {
    iot.destroy();
  }
}
