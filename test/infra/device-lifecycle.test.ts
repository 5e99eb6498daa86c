import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { UserPool } from 'aws-cdk-lib/aws-cognito';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DeviceGateway } from '../../lib/device-gateway';
import { DeviceLifecycle } from '../../lib/device-lifecycle';
import { FleetStore } from '../../lib/fleet-store';
import { OperatorApi } from '../../lib/operator-api';
import { STAGE_NAMES, synthesizeOnce, withOutdir } from './synth';
import {
  asList,
  functionGrants,
  outputTarget,
  type PolicyStatement,
  render,
  resource,
  resourcesOfType,
  statementsOf,
} from './template-queries';

// Two full syntheses; on a busy machine they take longer than the project's 2 minutes.
vi.setConfig({ hookTimeout: 600_000 });
const template = synthesizeOnce('aws', 'local');
const IOT_ARN = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>';
// biome-ignore lint/suspicious/noTemplateCurlyInString: the IoT policy variable, verbatim.
const THING = '${iot:Connection.Thing.ThingName}';
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

describe.each(STAGE_NAMES)('device lifecycle in the %s stage', (stage) => {
  const table = () => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
  const arn = (type: string) => (stage === 'aws' ? `${IOT_ARN}:${type}/*` : '*');
  /** What the function may do besides what the audit trail adds to every operator function. */
  const own = (fn: string) =>
    functionGrants(template(stage), fn).filter((g) => !g.includes('Audit') && !g.startsWith('cloudwatch:'));
  const quarantinePolicy = () => {
    const id = outputTarget(template(stage), 'QuarantinePolicyName');
    return statementsOf(resource(template(stage), id).Properties?.PolicyDocument);
  };
  const resourcesFor = (statements: PolicyStatement[], action: string) =>
    statements
      .filter((s) => asList(s.Action).includes(action))
      .flatMap((s) => asList(s.Resource).map(render))
      .map((r) => r.replace(`${IOT_ARN}:`, ''));

  it('has a quarantine policy that connects only as the attached thing', () => {
    const [connect] = quarantinePolicy().filter((s) => asList(s.Action).includes('iot:Connect'));
    expect(render(connect?.Resource)).toBe(`${IOT_ARN}:client/${THING}`);
    expect(connect?.Condition).toEqual({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } });
  });

  it('lets a quarantined device publish only telemetry, alerts, rotation, jobs and commands: no shadow, no OTA events', () => {
    expect(resourcesFor(quarantinePolicy(), 'iot:Publish').sort()).toEqual(
      [
        `topic/edgeops/devices/${THING}/telemetry`,
        `topic/edgeops/devices/${THING}/alerts`,
        `topic/edgeops/devices/${THING}/certificate/*`,
        `topic/$aws/things/${THING}/jobs/*`,
        `topic/$aws/commands/things/${THING}/*`,
        `topic/edgeops/devices/${THING}/commands/*`,
      ].sort(),
    );
    expect(resourcesFor(quarantinePolicy(), 'iot:Receive').join()).not.toContain('shadow');
    expect(quarantinePolicy().every((s) => s.Effect === 'Allow')).toBe(true);
  });

  it('routes rotation messages through a rule that forwards the connection principal and refuses forged names', () => {
    const rules = Object.values(resourcesOfType(template(stage), 'AWS::IoT::TopicRule')).map((r) =>
      render((r.Properties?.TopicRulePayload as { Sql?: unknown } | undefined)?.Sql),
    );
    const rotation = rules.filter((sql) => sql.includes("FROM 'edgeops/devices/+/certificate/+'"));
    expect(rotation).toHaveLength(1);
    expect(rotation[0]).toContain('principal() AS edgeopsPrincipal');
    expect(rotation[0]).toContain(
      'WHERE isUndefined(edgeopsDeviceId) AND isUndefined(edgeopsStep) AND isUndefined(edgeopsPrincipal)',
    );
  });

  it('lets the rotation function sign CSRs, attach and deactivate certificates and reply on rotation topics only', () => {
    const grants = own('DeviceGatewayCertificateRotationFunction').filter((g) => !g.startsWith('sqs:'));
    expect(grants).toEqual(
      [
        `dynamodb:GetItem on ${table()}`,
        `dynamodb:UpdateItem on ${table()}`,
        `iot:AttachPolicy on ${arn('cert')}`,
        `iot:DetachPolicy on ${arn('cert')}`,
        `iot:UpdateCertificate on ${arn('cert')}`,
        `iot:AttachThingPrincipal on ${arn('thing')}`,
        `iot:DetachThingPrincipal on ${arn('thing')}`,
        `iot:ListThingPrincipals on ${arn('thing')}`,
        'iot:CreateCertificateFromCsr on *',
        `iot:Publish on ${stage === 'aws' ? `${IOT_ARN}:topic/edgeops/devices/*/certificate/*` : '*'}`,
        ...TRACING,
      ].sort(),
    );
  });

  it('lets the retire function revoke, leave groups and cancel jobs, and never delete', () => {
    const grants = own('DeviceLifecycleRetireDevice');
    expect(grants).toEqual(
      expect.arrayContaining([
        `iot:UpdateCertificate on ${arn('cert')}`,
        `iot:DetachPolicy on ${arn('cert')}`,
        `iot:RemoveThingFromThingGroup on ${arn('thinggroup')}`,
        `iot:CancelJobExecution on ${arn('job')}`,
        `iot:ListJobExecutionsForThing on ${arn('thing')}`,
      ]),
    );
    expect(grants.join()).not.toMatch(/Delete(Certificate|Thing)|AttachPolicy|CreateCertificate/);
  });

  it('lets the quarantine function swap policies and cancel jobs, and not revoke', () => {
    const grants = own('DeviceLifecycleDeviceQuarantine');
    expect(grants).toEqual(
      expect.arrayContaining([`iot:AttachPolicy on ${arn('cert')}`, `iot:DetachPolicy on ${arn('cert')}`]),
    );
    expect(grants.join()).not.toContain('iot:UpdateCertificate');
  });

  it('does not quarantine on anomaly flags unless turned on', () => {
    expect(anomalyRules(template(stage))).toEqual([]);
  });
});

const anomalyRules = (t: Template) =>
  Object.values(resourcesOfType(t, 'AWS::Events::Rule')).filter((r) =>
    JSON.stringify(r.Properties?.EventPattern ?? {}).includes('Device Anomaly Flagged'),
  );

describe('DeviceLifecycle with autoQuarantineOnAnomaly', () => {
  let lifecycle: Template;
  beforeAll(() => {
    withOutdir((outdir) => {
      const stack = new Stack(new App({ outdir }), 'Lifecycle');
      const fleet = new FleetStore(stack, 'Fleet');
      const gateway = new DeviceGateway(stack, 'Gateway', { fleet });
      const api = new OperatorApi(stack, 'Api', {
        fleet,
        userPool: new UserPool(stack, 'Pool'),
        devicePolicyName: gateway.devicePolicyName,
        webAcl: false,
      });
      new DeviceLifecycle(stack, 'Lifecycle', { fleet, api, gateway, autoQuarantineOnAnomaly: true });
      lifecycle = Template.fromStack(stack);
    });
  });

  it('sends Device Anomaly Flagged events of the fleet analysis to the quarantine function', () => {
    const [rule] = anomalyRules(lifecycle);
    expect(rule?.Properties?.EventPattern).toEqual({
      source: ['edgeops.fleet'],
      'detail-type': ['Device Anomaly Flagged'],
    });
    expect(render(asList(rule?.Properties?.Targets as unknown[])[0])).toContain(
      'LifecycleQuarantineOnAnomaly',
    );
  });
});
