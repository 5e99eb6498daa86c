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

new EdgeOpsStack(app, app.node.tryGetContext('stackName') ?? 'EdgeOps', {
  stage,
  onlineKeyGenerations: generations,
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
