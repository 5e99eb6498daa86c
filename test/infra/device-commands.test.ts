import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { UserPool } from 'aws-cdk-lib/aws-cognito';
import { beforeAll, describe, expect, it } from 'vitest';
import { DeviceCommands } from '../../lib/device-commands';
import { DeviceGateway } from '../../lib/device-gateway';
import { FleetStore } from '../../lib/fleet-store';
import { OperatorApi } from '../../lib/operator-api';
import { withOutdir } from './synth';
import { functionGrants, render, resourcesOfType } from './template-queries';

/** The commands construct in a stack of its own, with what it plugs into (faster than the whole app). */
let template: Template;
beforeAll(() => {
  withOutdir((outdir) => {
    const { context } = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
      context?: Record<string, unknown>;
    };
    const app = new App({ outdir, context });
    const stack = new Stack(app, 'Commands');
    const fleet = new FleetStore(stack, 'Fleet');
    const api = new OperatorApi(stack, 'Api', {
      fleet,
      userPool: new UserPool(stack, 'Pool'),
      devicePolicyName: 'device-policy',
      webAcl: false,
    });
    const gateway = new DeviceGateway(stack, 'Gateway', { fleet });
    new DeviceCommands(stack, 'DeviceCommands', { fleet, api, gateway });
    template = Template.fromStack(stack);
  });
}, 600_000);

describe('DeviceCommands', () => {
  it('keeps logs in a private, encrypted, TLS-only bucket whose objects expire', () => {
    const buckets = Object.values(resourcesOfType(template, 'AWS::S3::Bucket')).filter((b) =>
      render(b.Properties?.LifecycleConfiguration).includes('device-logs/'),
    );
    expect(buckets).toHaveLength(1);
    const bucket = buckets[0]?.Properties ?? {};
    expect(render(bucket.BucketEncryption)).toContain('AES256');
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(render(bucket.LifecycleConfiguration)).toContain('"ExpirationInDays":30');
    const policies = Object.values(resourcesOfType(template, 'AWS::S3::BucketPolicy')).map((p) =>
      render(p.Properties?.PolicyDocument),
    );
    expect(policies.some((p) => p.includes('"aws:SecureTransport":"false"'))).toBe(true);
  });

  it('lets the send function create jobs and its own expiry schedules, and pass only the scheduler role', () => {
    const grants = functionGrants(template, 'SendCommand');
    expect(grants.filter((g) => g.startsWith('iot:CreateJob'))).toHaveLength(2); // job/* and thing/*
    expect(grants.some((g) => /^iot:CreateJob on .*:job\/\*$/.test(g))).toBe(true);
    const schedulerGrants = grants.filter((g) => g.startsWith('scheduler:'));
    expect(schedulerGrants).toHaveLength(1);
    expect(schedulerGrants[0]).toMatch(/^scheduler:CreateSchedule on .*:schedule\/default\/edgeops-cmd-\*$/);
    const passRole = grants.filter((g) => g.startsWith('iam:PassRole'));
    expect(passRole).toHaveLength(1);
    expect(passRole[0]).toContain('ExpirySchedulerRole');
    expect(grants.some((g) => g.includes('s3:'))).toBe(false);
  });

  it('lets the scheduler role invoke the expiry function and nothing else', () => {
    const roles = Object.entries(resourcesOfType(template, 'AWS::IAM::Role')).filter(([id]) =>
      id.includes('ExpirySchedulerRole'),
    );
    expect(roles).toHaveLength(1);
    expect(render(roles[0]?.[1].Properties?.AssumeRolePolicyDocument)).toContain('scheduler.amazonaws.com');
    const policies = Object.values(resourcesOfType(template, 'AWS::IAM::Policy')).filter((p) =>
      render(p.Properties?.Roles).includes(roles[0]?.[0] ?? '?'),
    );
    const actions = policies.flatMap(
      (p) => render(p.Properties?.PolicyDocument).match(/"Action":"[^"]+"/g) ?? [],
    );
    expect(actions).toEqual(['"Action":"lambda:InvokeFunction"']);
  });

  it('lets the device message function sign uploads for device-logs/ only and answer on reply topics', () => {
    const grants = functionGrants(template, 'CommandMessageFunction');
    expect(grants.filter((g) => g.startsWith('s3:'))).toHaveLength(1);
    expect(grants.find((g) => g.startsWith('s3:'))).toMatch(/^s3:PutObject on .*\/device-logs\/\*$/);
    const publish = grants.filter((g) => g.startsWith('iot:Publish'));
    expect(publish).toHaveLength(1);
    expect(publish[0]).toMatch(/:topic\/edgeops\/devices\/\*\/commands\/upload-url\/\*$/);
  });

  it('reads a device’s commands with a Query of device partitions only', () => {
    const grants = functionGrants(template, 'ListCommands');
    expect(grants.filter((g) => g.includes('dynamodb:Scan'))).toEqual([]);
  });

  it('routes the devices’ command messages, whole, with the sender from the topic', () => {
    const rules = Object.values(resourcesOfType(template, 'AWS::IoT::TopicRule')).map((r) =>
      render(r.Properties?.TopicRulePayload),
    );
    expect(
      rules.some((r) =>
        r.includes(
          "SELECT encode(*, 'base64') AS payload, topic(3) AS deviceId, topic(5) AS kind FROM 'edgeops/devices/+/commands/+'",
        ),
      ),
    ).toBe(true);
  });

  it('serves the three operator routes', () => {
    const paths = Object.values(resourcesOfType(template, 'AWS::ApiGateway::Resource')).map((r) =>
      String(r.Properties?.PathPart),
    );
    expect(paths).toEqual(expect.arrayContaining(['commands', '{commandId}']));
    expect(Object.keys(resourcesOfType(template, 'AWS::ApiGateway::Method')).length).toBeGreaterThanOrEqual(
      6,
    );
  });
});
