import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, synthesizeOnce } from './synth';
import {
  allowsAction,
  asList,
  functionGrants,
  functionId,
  outputTarget,
  render,
  resource,
  resourcesOfType,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
const IOT_ARN = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>';
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

describe.each(STAGE_NAMES)('bandwidth policy functions in the %s stage', (stage) => {
  const table = () => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
  const shadows = () => [`iot:UpdateThingShadow on ${stage === 'aws' ? `${IOT_ARN}:thing/*` : '*'}`];

  it('lets the device function read items, update the device item and write shadows, nothing else', () => {
    expect(functionGrants(template(stage), 'DeviceBandwidthPolicy')).toEqual(
      [
        `dynamodb:GetItem on ${table()}`,
        `dynamodb:UpdateItem on ${table()}`,
        ...shadows(),
        ...TRACING,
      ].sort(),
    );
  });

  it('lets the site function write the site item, query the bySite index and write shadows, nothing else', () => {
    expect(functionGrants(template(stage), 'SiteBandwidthPolicy')).toEqual(
      [
        `dynamodb:DeleteItem on ${table()}`,
        `dynamodb:PutItem on ${table()}`,
        `dynamodb:Query on ${table()}/index/bySite`,
        ...shadows(),
        ...TRACING,
      ].sort(),
    );
  });

  it('routes PUT and DELETE of both resources to their functions', () => {
    const methods = Object.values(resourcesOfType(template(stage), 'AWS::ApiGateway::Method'))
      .map((method) => method.Properties ?? {})
      .filter((properties) => ['PUT', 'DELETE'].includes(String(properties.HttpMethod)))
      .map((properties) => {
        const uri = render((properties.Integration as { Uri?: unknown } | undefined)?.Uri);
        const target = ['DeviceBandwidthPolicy', 'SiteBandwidthPolicy'].find((fn) =>
          uri.includes(functionId(template(stage), fn)),
        );
        return target && `${properties.HttpMethod} ${target}`;
      })
      .filter(Boolean);

    expect(methods.sort()).toEqual(
      [
        'DELETE DeviceBandwidthPolicy',
        'DELETE SiteBandwidthPolicy',
        'PUT DeviceBandwidthPolicy',
        'PUT SiteBandwidthPolicy',
      ].sort(),
    );
  });

  it('has resources devices/{deviceId}/bandwidth-policy and sites/{site}/bandwidth-policy', () => {
    const paths = Object.values(resourcesOfType(template(stage), 'AWS::ApiGateway::Resource')).map((r) =>
      String(r.Properties?.PathPart),
    );
    expect(paths).toEqual(expect.arrayContaining(['bandwidth-policy', 'sites', '{site}']));
    expect(asList(paths).filter((p) => p === 'bandwidth-policy')).toHaveLength(2);
  });
});

describe('device IoT policy and bandwidth policies', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT policy variable, verbatim.
  const THING = '${iot:Connection.Thing.ThingName}';

  it.each([
    ['iot:Subscribe', 'topicfilter', 'get/accepted'],
    ['iot:Subscribe', 'topicfilter', 'update/delta'],
    ['iot:Receive', 'topic', 'get/accepted'],
    ['iot:Receive', 'topic', 'update/delta'],
    ['iot:Publish', 'topic', 'get'],
  ])('allows %s on the own shadow %s %s, through shadow/* of its own thing only', (action, kind) => {
    const policy = resource(template('aws'), outputTarget(template('aws'), 'DevicePolicyName'));
    const resources = statementsOf(policy.Properties?.PolicyDocument)
      .filter((statement) => allowsAction(statement, action))
      .flatMap((statement) => asList(statement.Resource).map(render));

    expect(resources).toContain(`${IOT_ARN}:${kind}/$aws/things/${THING}/shadow/*`);
  });
});
