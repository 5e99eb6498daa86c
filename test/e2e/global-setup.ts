/**
 * Brings up what every e2e test runs against: local AWS (started here, stopped in teardown), the
 * real CDK stack deployed into it, and one operator per role. When the run is killed instead (a
 * timeout, SIGKILL, Ctrl-C during setup), teardown never runs: the watchdog local AWS and cdk run
 * under ends them, Lambda workers included, as soon as this process is gone.
 */

import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { TestProject } from 'vitest/node';
import type { OperatorRole } from '../../functions/domain/operator-role';
import { OperatorApiClient } from '../../operator-client/operator-api-client';
import { deployStack, type StackOutputs } from '../../scripts/local-aws/deploy';
import { saveLambdaProblems } from '../../scripts/local-aws/lambda-logs';
import { localClientConfig, RUNTIME_DIR, startLocalAws } from '../../scripts/local-aws/ministack';
import { createOperator } from '../../scripts/local-aws/operators';
import { setUpReleaseTrust } from '../../scripts/local-aws/trust';

export interface E2eContext {
  readonly endpoint: string;
  readonly mqtt: { readonly host: string; readonly port: number; readonly ca: string };
  readonly apiUrl: string;
  readonly outputs: StackOutputs;
  /** ID tokens by role; `none` belongs to a user in no group. */
  readonly tokens: Record<OperatorRole | 'none', string>;
  /** The root ceremony's keys (root v1 names the first online key generation only). */
  readonly trust: { readonly rootKeysDir: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    edgeops: E2eContext;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const aws = await startLocalAws({ waitScale: 0 });
  try {
    // Two online key generations, so the rotation test can move from the first to the second.
    const stack = await deployStack(aws, { log: () => {}, context: { onlineKeyGenerations: '1,2' } });
    const cognito = new CognitoIdentityProviderClient(localClientConfig(aws));
    const tokens = {} as Record<OperatorRole | 'none', string>;
    for (const role of ['viewer', 'operator', 'admin', 'none'] as const) {
      tokens[role] = (
        await createOperator(stack.outputs, `e2e-${role}`, role === 'none' ? undefined : role, cognito)
      ).idToken;
    }
    const trust = await setUpReleaseTrust(new OperatorApiClient(stack.apiUrl, tokens.admin), 'e2e', {
      onlineKeyGenerations: 1,
    });
    const ca = await (await fetch(`${aws.endpoint}/_ministack/iot/ca.pem`)).text();
    project.provide('edgeops', {
      endpoint: aws.endpoint,
      mqtt: { ...aws.mqtt, ca },
      apiUrl: stack.apiUrl,
      outputs: stack.outputs,
      tokens,
      trust: { rootKeysDir: trust.keysDir },
    });
    console.log(`e2e: local AWS up and stack deployed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    await aws.stop();
    throw error;
  }
  return async () => {
    // What the Lambdas complained about, for whoever reads a failed run.
    const report = join(RUNTIME_DIR, 'e2e-lambda-problems.log');
    const count = await saveLambdaProblems(aws, report).catch(() => 0);
    if (count > 0) console.log(`e2e: ${count} Lambda warnings/errors written to ${report}`);
    await aws.stop();
  };
}
