import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, synthesizeOnce } from './synth';
import {
  allowsAction,
  asList,
  functionId,
  outputTarget,
  render,
  resource,
  resourcesOfType,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
const IOT_ARN = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>';

/** `<METHOD> <path>` of every API method whose integration invokes the function `fn`. */
function routesOf(stage: (typeof STAGE_NAMES)[number], fn: string): string[] {
  const t = template(stage);
  const resources = resourcesOfType(t, 'AWS::ApiGateway::Resource');
  const pathOf = (id: string): string => {
    const r = resources[id];
    if (!r) return '';
    const parent = r.Properties?.ParentId as { Ref?: string } | undefined;
    return `${parent?.Ref && resources[parent.Ref] ? pathOf(parent.Ref) : ''}/${String(r.Properties?.PathPart)}`;
  };
  return Object.values(resourcesOfType(t, 'AWS::ApiGateway::Method'))
    .map((method) => method.Properties ?? {})
    .filter((p) => render((p.Integration as { Uri?: unknown } | undefined)?.Uri).includes(functionId(t, fn)))
    .map((p) => `${p.HttpMethod} ${pathOf((p.ResourceId as { Ref?: string } | undefined)?.Ref ?? '')}`);
}

describe.each(STAGE_NAMES)(
  'bandwidth policy routes in the %s stage (aliases of the bandwidthPolicy key)',
  (stage) => {
    it('serves PUT and DELETE of a device policy from the device configuration function', () => {
      expect(
        routesOf(stage, 'DeviceConfigurationDeviceConfig')
          .filter((r) => r.endsWith('bandwidth-policy'))
          .sort(),
      ).toEqual(['DELETE /devices/{deviceId}/bandwidth-policy', 'PUT /devices/{deviceId}/bandwidth-policy']);
    });

    it('serves PUT and DELETE of a site policy from the shared configuration function', () => {
      expect(
        routesOf(stage, 'DeviceConfigurationSharedConfig')
          .filter((r) => r.endsWith('bandwidth-policy'))
          .sort(),
      ).toEqual(['DELETE /sites/{site}/bandwidth-policy', 'PUT /sites/{site}/bandwidth-policy']);
    });

    it('no longer has a function of its own that loops over a site', () => {
      const ids = Object.keys(resourcesOfType(template(stage), 'AWS::Lambda::Function'));
      expect(ids.filter((id) => id.includes('BandwidthPolicy'))).toEqual([]);
    });
  },
);

describe('device IoT policy and bandwidth policies', () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT policy variable, verbatim.
  const THING = '${iot:Connection.Thing.ThingName}';

  it.each([
    ['iot:Subscribe', 'topicfilter'],
    ['iot:Receive', 'topic'],
    ['iot:Publish', 'topic'],
  ])('allows %s on the own shadows (%s), through shadow/* of its own thing only', (action, kind) => {
    const policy = resource(template('aws'), outputTarget(template('aws'), 'DevicePolicyName'));
    const resources = statementsOf(policy.Properties?.PolicyDocument)
      .filter((statement) => allowsAction(statement, action))
      .flatMap((statement) => asList(statement.Resource).map(render));

    expect(resources).toContain(`${IOT_ARN}:${kind}/$aws/things/${THING}/shadow/*`);
  });
});
