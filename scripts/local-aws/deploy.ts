/** Deploys the real CDK stack (local stage) into local AWS with the project's pinned CDK CLI. */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { LOCAL_AWS_ENV, type LocalAws, PROJECT_DIR, RUNTIME_DIR } from './ministack';

const run = promisify(execFile);
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
  }: {
    stackName?: string;
    log?: (line: string) => void;
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
  const common = [
    '-c',
    'stage=local',
    '-c',
    `stackName=${stackName}`,
    ...Object.entries(context).flatMap(([key, value]) => ['-c', `${key}=${value}`]),
    '--output',
    outDir,
    '--no-notices',
    '--ci',
  ];
  const options = { cwd: PROJECT_DIR, env, maxBuffer: 64 * 1024 * 1024 };
  try {
    log('Bootstrapping CDK in local AWS ...');
    await run(cdk, ['bootstrap', `aws://${LOCAL_ACCOUNT}/${LOCAL_AWS_ENV.AWS_REGION}`, ...common], options);
    log(`Deploying stack ${stackName} ...`);
    await run(
      cdk,
      ['deploy', stackName, ...common, '--require-approval', 'never', '--outputs-file', outputsFile],
      options,
    );
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`cdk failed:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
  const outputs = (JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, StackOutputs>)[stackName];
  if (!outputs) throw new Error(`No outputs for ${stackName} in ${outputsFile}`);
  return { stackName, outputs, apiUrl: localApiUrl(outputs.ApiUrl, aws.endpoint) };
}
