#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EdgeOpsStack, STAGES, type StageConfig } from '../lib/edgeops-stack';

const app = new App();
const stageName = (app.node.tryGetContext('stage') ?? 'aws') as string;
const stage: StageConfig | undefined = STAGES[stageName as StageConfig['name']];
if (!stage) throw new Error(`Unknown stage '${stageName}'; use one of ${Object.keys(STAGES).join(', ')}`);

// Online signing key generations, oldest first (README: rotating the online keys).
const generations = String(app.node.tryGetContext('onlineKeyGenerations') ?? '1')
  .split(',')
  .map((g) => g.trim())
  .filter(Boolean);

// Local AWS only: its MQTT broker and CA, which the deploy script knows (scripts/local-aws/deploy.ts).
// The CA comes base64-encoded, so that it passes as one command-line word.
const brokerContext = ['deviceMqttHost', 'deviceMqttPort', 'deviceCaCertificateBase64'].map(
  (key) => app.node.tryGetContext(key) as string | undefined,
);
const [mqttHost, mqttPort, caBase64] = brokerContext;
if (brokerContext.some((v) => v !== undefined) && brokerContext.some((v) => v === undefined))
  throw new Error('Give deviceMqttHost, deviceMqttPort and deviceCaCertificateBase64 together, or none');
const deviceConnection =
  mqttHost && mqttPort && caBase64
    ? {
        mqttHost,
        mqttPort: Number(mqttPort),
        caCertificatePem: Buffer.from(caBase64, 'base64').toString('utf8'),
      }
    : undefined;

new EdgeOpsStack(app, app.node.tryGetContext('stackName') ?? 'EdgeOps', {
  stage,
  onlineKeyGenerations: generations,
  ...(deviceConnection ? { deviceConnection } : {}),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
