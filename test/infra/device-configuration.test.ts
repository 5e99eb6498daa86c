import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, synthesizeOnce } from './synth';
import {
  actionsCover,
  asList,
  functionGrants,
  functionId,
  outputTarget,
  type PolicyStatement,
  render,
  resource,
  resourcesOfType,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
const IOT_ARN = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>';
// biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT policy variable, verbatim.
const THING = '${iot:Connection.Thing.ThingName}';
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

describe.each(STAGE_NAMES)('device configuration functions in the %s stage', (stage) => {
  const table = () => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
  const things = () => (stage === 'aws' ? `${IOT_ARN}:thing/*` : '*');
  const audit = (fn: string) =>
    functionGrants(template(stage), fn).filter((g) => g.includes('Audit') || g.startsWith('cloudwatch:'));
  const own = (fn: string) => functionGrants(template(stage), fn).filter((g) => !audit(fn).includes(g));

  it('lets the device layer function read and update items and get and update shadows, nothing else', () => {
    expect(own('DeviceConfigurationDeviceConfig')).toEqual(
      [
        `dynamodb:GetItem on ${table()}`,
        `dynamodb:UpdateItem on ${table()}`,
        `iot:GetThingShadow on ${things()}`,
        `iot:UpdateThingShadow on ${things()}`,
        ...TRACING,
      ].sort(),
    );
  });

  it('keeps the shared-layer function to the layer partitions, the drift index and the fan-out queue', () => {
    const fanOutQueue = Object.keys(resourcesOfType(template(stage), 'AWS::SQS::Queue')).find((id) =>
      id.includes('DeviceConfigurationFanOutQueue'),
    );
    expect(own('DeviceConfigurationSharedConfig')).toEqual(
      [
        `dynamodb:GetItem on ${table()}`,
        `dynamodb:UpdateItem on ${table()}`,
        `dynamodb:Query on ${table()}/index/byConfigDrift`,
        `sqs:GetQueueAttributes on <${fanOutQueue}.Arn>`,
        `sqs:GetQueueUrl on <${fanOutQueue}.Arn>`,
        `sqs:SendMessage on <${fanOutQueue}.Arn>`,
        ...TRACING,
      ].sort(),
    );
    const itemStatement = asList(
      statementsOf(
        Object.values(resourcesOfType(template(stage), 'AWS::IAM::Policy')).find((p) =>
          render(p.Properties?.PolicyName).includes('SharedConfig'),
        )?.Properties?.PolicyDocument,
      ),
    ).find((s) => actionsCover(s, 'dynamodb:UpdateItem'));
    expect(itemStatement?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['CONFIG#FLEET', 'SITE#*'] },
    });
  });

  it('has the fan-out worker take one page per message from its queue, at most two at once', () => {
    const mapping = Object.values(resourcesOfType(template(stage), 'AWS::Lambda::EventSourceMapping')).find(
      (m) => render(m.Properties?.FunctionName).includes(functionId(template(stage), 'ConfigFanOut')),
    );
    expect(mapping?.Properties).toMatchObject({
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(own('DeviceConfigurationConfigFanOut')).toEqual(
      expect.arrayContaining([
        `dynamodb:Query on ${table()}/index/bySite`,
        `dynamodb:Scan on ${table()}/index/bySite`,
        `iot:UpdateThingShadow on ${things()}`,
      ]),
    );
  });

  it("routes devices' config reports through a queue into a function that only updates items", () => {
    const rule = Object.values(resourcesOfType(template(stage), 'AWS::IoT::TopicRule')).find((r) =>
      String((r.Properties?.TopicRulePayload as { Sql?: string } | undefined)?.Sql).includes(
        '/config/reported',
      ),
    );
    expect((rule?.Properties?.TopicRulePayload as { Sql?: string } | undefined)?.Sql).toBe(
      "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/config/reported'",
    );
    const queue = Object.keys(resourcesOfType(template(stage), 'AWS::SQS::Queue')).find((id) =>
      id.includes('ConfigReportQueue'),
    );
    const consume = [
      'ChangeMessageVisibility',
      'DeleteMessage',
      'GetQueueAttributes',
      'GetQueueUrl',
      'ReceiveMessage',
    ];
    expect(own('ConfigReportFunction')).toEqual(
      [
        `dynamodb:UpdateItem on ${table()}`,
        ...consume.map((a) => `sqs:${a} on <${queue}.Arn>`),
        ...TRACING,
      ].sort(),
    );
  });

  it('lets registration hand a new device to the fan-out queue, and tells it where the queue is', () => {
    const fanOutQueue = Object.keys(resourcesOfType(template(stage), 'AWS::SQS::Queue')).find((id) =>
      id.includes('DeviceConfigurationFanOutQueue'),
    );
    expect(functionGrants(template(stage), 'RegisterDevice')).toContain(
      `sqs:SendMessage on <${fanOutQueue}.Arn>`,
    );
    const environment = resource(template(stage), functionId(template(stage), 'RegisterDevice')).Properties
      ?.Environment as { Variables?: Record<string, unknown> } | undefined;
    expect(render(environment?.Variables?.CONFIG_FAN_OUT_QUEUE_URL)).toBe(`<${fanOutQueue}>`);
  });

  it('indexes drifting devices sparsely by site', () => {
    const tableResource = resource(template(stage), outputTarget(template(stage), 'FleetTableName'));
    const indexes = tableResource.Properties?.GlobalSecondaryIndexes as
      | { IndexName: string; KeySchema: { AttributeName: string }[] }[]
      | undefined;
    const drift = indexes?.find((i) => i.IndexName === 'byConfigDrift');
    expect(drift?.KeySchema.map((k) => k.AttributeName)).toEqual(['configDrift', 'deviceId']);
  });

  it('serves every configuration route, and the bandwidth policy routes as aliases', () => {
    const methods = Object.values(resourcesOfType(template(stage), 'AWS::ApiGateway::Method'))
      .map((method) => method.Properties ?? {})
      .map((properties) => {
        const uri = render((properties.Integration as { Uri?: unknown } | undefined)?.Uri);
        const target = ['DeviceConfigurationDeviceConfig', 'DeviceConfigurationSharedConfig'].find((fn) =>
          uri.includes(functionId(template(stage), fn)),
        );
        return target && `${properties.HttpMethod} ${target.replace('DeviceConfiguration', '')}`;
      })
      .filter(Boolean);

    expect(methods.sort()).toEqual(
      [
        'GET DeviceConfig',
        'PUT DeviceConfig',
        'DELETE DeviceConfig',
        'PUT DeviceConfig',
        'DELETE DeviceConfig',
        'GET SharedConfig',
        'PUT SharedConfig',
        'DELETE SharedConfig',
        'PUT SharedConfig',
        'DELETE SharedConfig',
        'GET SharedConfig',
        'PUT SharedConfig',
        'GET SharedConfig',
        'GET SharedConfig',
      ].sort(),
    );
  });
});

describe('device IoT policy and the config shadow', () => {
  const deviceStatements = (): PolicyStatement[] =>
    statementsOf(
      resource(template('aws'), outputTarget(template('aws'), 'DevicePolicyName')).Properties?.PolicyDocument,
    );

  /** IoT policy resources are globs where `*` matches anything, `/` included. */
  const matches = (pattern: string, arn: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(arn);
  const may = (action: string, resourceArn: string) => {
    const relevant = deviceStatements().filter(
      (s) => actionsCover(s, action) && asList(s.Resource).some((r) => matches(render(r), resourceArn)),
    );
    return !relevant.some((s) => s.Effect === 'Deny') && relevant.some((s) => s.Effect === 'Allow');
  };
  const topic = (path: string) => `${IOT_ARN}:topic/$aws/things/${THING}/shadow/${path}`;

  it.each(['name/config/update', 'name/config/delete'])('refuses the device a publish to its %s', (path) => {
    expect(may('iot:Publish', topic(path))).toBe(false);
  });

  it('lets the device get its config shadow and receive its answers and changes', () => {
    expect(may('iot:Publish', topic('name/config/get'))).toBe(true);
    expect(may('iot:Receive', topic('name/config/get/accepted'))).toBe(true);
    expect(may('iot:Receive', topic('name/config/update/documents'))).toBe(true);
    expect(may('iot:Subscribe', `${IOT_ARN}:topicfilter/$aws/things/${THING}/shadow/name/config/+/+`)).toBe(
      true,
    );
  });

  it('lets the device publish its config report and its classic shadow reports', () => {
    expect(may('iot:Publish', `${IOT_ARN}:topic/edgeops/devices/${THING}/config/reported`)).toBe(true);
    expect(may('iot:Publish', topic('update'))).toBe(true);
  });

  it('refuses the config shadow with an explicit deny, which no allow added later can override', () => {
    const deny = deviceStatements().find((s) => s.Effect === 'Deny');
    expect(deny).toMatchObject({ Action: 'iot:Publish' });
    expect(asList(deny?.Resource).map(render)).toEqual([
      topic('name/config/update*'),
      topic('name/config/delete*'),
    ]);
  });

  it('the evaluator can fail: it lets a publish to a device-owned named shadow through', () => {
    expect(may('iot:Publish', topic('name/config-reported/update'))).toBe(true);
  });
});
