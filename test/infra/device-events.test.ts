import type { Template } from 'aws-cdk-lib/assertions';
import { AwsCustomResource } from 'aws-cdk-lib/custom-resources';
import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  asList,
  functionGrants,
  functionId,
  grants,
  outputTarget,
  render,
  resource,
  resourcesOfType,
  roleOfFunction,
  roleStatements,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');

/** Every device event route (lib/device-gateway.ts): its rule's topic filter and its construct name. */
const ROUTES = [
  { events: 'shadow reports', topic: '$aws/things/+/shadow/update/accepted', name: 'ShadowReport' },
  { events: 'presence events', topic: '$aws/events/presence/+/+', name: 'ConnectionEvent' },
  { events: 'OTA events', topic: 'edgeops/devices/+/ota', name: 'OtaEvent' },
  { events: 'job execution events', topic: '$aws/events/jobExecution/+/+', name: 'JobExecutionEvent' },
] as const;
type Route = (typeof ROUTES)[number];

/** What an SQS event source mapping needs from its queue, and nothing more. */
const CONSUME = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];

const deadLetters = (t: Template) => outputTarget(t, 'DeadLetterQueueUrl');

function queueOf(t: Template, route: Route): string {
  const ids = Object.keys(resourcesOfType(t, 'AWS::SQS::Queue')).filter((id) =>
    id.startsWith(`DeviceGateway${route.name}Queue`),
  );
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

function ruleOf(t: Template, route: Route) {
  const rules = Object.entries(resourcesOfType(t, 'AWS::IoT::TopicRule')).filter(([, rule]) =>
    String((rule.Properties?.TopicRulePayload as { Sql?: string } | undefined)?.Sql).includes(
      `FROM '${route.topic}'`,
    ),
  );
  expect(rules).toHaveLength(1);
  const [id, rule] = rules[0] ?? [];
  return { id: String(id), payload: rule?.Properties?.TopicRulePayload as Record<string, unknown> };
}

function mappingOf(t: Template, route: Route) {
  const queueArn = `<${queueOf(t, route)}.Arn>`;
  const mappings = Object.values(resourcesOfType(t, 'AWS::Lambda::EventSourceMapping')).filter(
    (m) => render(m.Properties?.EventSourceArn) === queueArn,
  );
  expect(mappings).toHaveLength(1);
  return mappings[0]?.Properties ?? {};
}

const roleIdOf = (arn: unknown) => render(arn).replace(/^<(.+)\.Arn>$/, '$1');

describe.each(STAGE_NAMES)('device event routes in the %s stage', (stage) => {
  it.each(ROUTES)('sends $events from their topic rule to a queue of their own, as JSON', (route) => {
    const { payload } = ruleOf(template(stage), route);

    expect(payload.Actions).toEqual([
      {
        Sqs: {
          QueueUrl: { Ref: queueOf(template(stage), route) },
          RoleArn: expect.anything(),
          UseBase64: false,
        },
      },
    ]);
  });

  it.each(ROUTES)("lets the $events rule's role send to that queue and do nothing else", (route) => {
    const { payload } = ruleOf(template(stage), route);
    const roleId = roleIdOf((payload.Actions as { Sqs: { RoleArn: unknown } }[])[0]?.Sqs.RoleArn);
    const trust = statementsOf(resource(template(stage), roleId).Properties?.AssumeRolePolicyDocument);

    expect(grants(roleStatements(template(stage), roleId))).toEqual([
      `sqs:SendMessage on <${queueOf(template(stage), route)}.Arn>`,
    ]);
    expect(trust.map((s) => render(s.Principal))).toEqual(['{"Service":"iot.amazonaws.com"}']);
  });

  it.each(ROUTES)('sends $events whose rule action fails to the dead-letter queue', (route) => {
    const { payload } = ruleOf(template(stage), route);
    const errorRole = roleIdOf((payload.ErrorAction as { Sqs: { RoleArn: unknown } }).Sqs.RoleArn);

    expect(payload.ErrorAction).toEqual({
      Sqs: { QueueUrl: { Ref: deadLetters(template(stage)) }, RoleArn: expect.anything() },
    });
    expect(grants(roleStatements(template(stage), errorRole))).toEqual([
      `sqs:SendMessage on <${deadLetters(template(stage))}.Arn>`,
    ]);
  });

  it.each(ROUTES)('encrypts the $events queue with SQS-managed keys', (route) => {
    const queue = resource(template(stage), queueOf(template(stage), route));

    expect(queue.Properties?.SqsManagedSseEnabled).toBe(true);
  });

  it.each(ROUTES)('moves a $events message to the dead-letter queue after its 5th receive', (route) => {
    const queue = resource(template(stage), queueOf(template(stage), route));

    expect(queue.Properties?.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [deadLetters(template(stage)), 'Arn'] },
      maxReceiveCount: 5,
    });
  });

  it.each(ROUTES)(
    'hides a $events batch in flight for at least six times its Lambda timeout plus the window',
    (route) => {
      const queue = resource(template(stage), queueOf(template(stage), route));
      const fn = resource(template(stage), functionId(template(stage), `${route.name}Function`));
      const window = Number(mappingOf(template(stage), route).MaximumBatchingWindowInSeconds ?? 0);

      expect(Number(queue.Properties?.VisibilityTimeout)).toBeGreaterThanOrEqual(
        6 * Number(fn.Properties?.Timeout) + window,
      );
    },
  );

  it.each(ROUTES)(
    'feeds the $events Lambda in batches, retrying only the events it reports failed',
    (route) => {
      const mapping = mappingOf(template(stage), route);

      expect(mapping.FunctionName).toEqual({ Ref: functionId(template(stage), `${route.name}Function`) });
      expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    },
  );

  it.each(ROUTES)('caps the batches of $events in flight at a few', (route) => {
    const concurrency = (mappingOf(template(stage), route).ScalingConfig as { MaximumConcurrency?: number })
      ?.MaximumConcurrency;

    expect(concurrency).toBeGreaterThanOrEqual(2);
    expect(concurrency).toBeLessThanOrEqual(5);
  });

  it.each(ROUTES)(
    'lets the $events Lambda take messages from its own queue only, and nothing invoke it directly',
    (route) => {
      const fnId = functionId(template(stage), `${route.name}Function`);
      const sqsGrants = functionGrants(template(stage), `${route.name}Function`).filter((g) =>
        g.startsWith('sqs:'),
      );
      const permissions = Object.values(resourcesOfType(template(stage), 'AWS::Lambda::Permission')).filter(
        (p) => render(p.Properties?.FunctionName).replace(/\.Arn>$/, '>') === `<${fnId}>`,
      );

      expect(sqsGrants).toEqual(CONSUME.map((a) => `${a} on <${queueOf(template(stage), route)}.Arn>`));
      expect(permissions).toEqual([]);
    },
  );

  it.each(ROUTES)(
    'leaves Lambda async retries and its dead-letter queue out of the $events Lambda',
    (route) => {
      const fnId = functionId(template(stage), `${route.name}Function`);
      const invokeConfigs = Object.values(
        resourcesOfType(template(stage), 'AWS::Lambda::EventInvokeConfig'),
      ).filter((c) => render(c.Properties?.FunctionName) === `<${fnId}>`);

      expect(resource(template(stage), fnId).Properties?.DeadLetterConfig).toBeUndefined();
      expect(invokeConfigs).toEqual([]);
    },
  );
});

describe('TLS on the device event queues', () => {
  /** Resources of the Deny-without-TLS statements in the queue policies of `queueId`. */
  const tlsDenials = (stage: StageName, queueId: string) =>
    Object.values(resourcesOfType(template(stage), 'AWS::SQS::QueuePolicy'))
      .filter((policy) => asList(policy.Properties?.Queues).map(render).includes(`<${queueId}>`))
      .flatMap((policy) => statementsOf(policy.Properties?.PolicyDocument))
      .filter(
        (s) =>
          s.Effect === 'Deny' &&
          render(s.Principal) === '{"AWS":"*"}' &&
          asList(s.Action).includes('sqs:*') &&
          s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      )
      .map((s) => render(s.Resource));

  it.each(ROUTES)('is required for every request to the $events queue in the aws stage', (route) => {
    const queueId = queueOf(template('aws'), route);

    expect(tlsDenials('aws', queueId)).toEqual([`<${queueId}.Arn>`]);
  });

  it('is required for every request to the dead-letter queue in the aws stage', () => {
    const queueId = deadLetters(template('aws'));

    expect(tlsDenials('aws', queueId)).toEqual([`<${queueId}.Arn>`]);
  });

  it('is not required in the local stage, whose rules engine sends without it', () => {
    expect(resourcesOfType(template('local'), 'AWS::SQS::QueuePolicy')).toEqual({});
  });
});

describe('device event batches', () => {
  const batching = (stage: StageName, route: Route) => {
    const mapping = mappingOf(template(stage), route);
    return { size: mapping.BatchSize, window: mapping.MaximumBatchingWindowInSeconds };
  };

  it.each(ROUTES)('takes up to 100 $events per invocation in AWS, gathered for up to 2 s', (route) => {
    expect(batching('aws', route)).toEqual({ size: 100, window: 2 });
  });

  it.each(ROUTES)('takes 10 $events per invocation locally, with no window (local AWS has none)', (route) => {
    expect(batching('local', route)).toEqual({ size: 10, window: undefined });
  });

  it.each(ROUTES)('gives a batch of $events 15 s in AWS, and 60 s locally (one busy emulator)', (route) => {
    const timeout = (stage: StageName) =>
      resource(template(stage), functionId(template(stage), `${route.name}Function`)).Properties?.Timeout;

    expect({ aws: timeout('aws'), local: timeout('local') }).toEqual({ aws: 15, local: 60 });
  });
});

describe('AWS IoT job execution events', () => {
  const providerPrefix = `AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replaceAll('-', '')}`;
  const calls = (stage: StageName) =>
    Object.values(resourcesOfType(template(stage), 'Custom::AWS')).map((r) => ({
      create: JSON.parse(String(r.Properties?.Create)) as Record<string, unknown>,
      update: JSON.parse(String(r.Properties?.Update)) as Record<string, unknown>,
      delete: r.Properties?.Delete,
    }));
  const enable = {
    service: 'IoT',
    action: 'UpdateEventConfigurations',
    parameters: { eventConfigurations: { JOB_EXECUTION: { Enabled: true } } },
  };

  it('are turned on by the aws stack on every deployment, and left on when it is deleted', () => {
    expect(calls('aws')).toEqual([
      { create: expect.objectContaining(enable), update: expect.objectContaining(enable), delete: undefined },
    ]);
  });

  it('are turned on with a role that may only update the event configuration', () => {
    const [providerId] = Object.keys(resourcesOfType(template('aws'), 'AWS::Lambda::Function')).filter((id) =>
      id.startsWith(providerPrefix),
    );
    const roleId = roleOfFunction(template('aws'), String(providerId));

    expect(grants(roleStatements(template('aws'), roleId))).toEqual(['iot:UpdateEventConfigurations on *']);
  });

  it('are left to the deploy script in the local stage, whose Lambdas cannot run the custom resource', () => {
    expect(calls('local')).toEqual([]);
  });
});
