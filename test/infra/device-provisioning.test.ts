import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { fleetProvisioningTopics } from '../../contract/provisioning';
import { DeviceProvisioning } from '../../lib/device-provisioning';
import { buildApp, type StageName, withOutdir } from './synth';
import {
  asList,
  functionGrants,
  functionId,
  grants,
  type PolicyStatement,
  render,
  resourcesOfType,
  roleStatements,
  statementsOf,
} from './template-queries';

const IOT_ARN = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>';

/** The provisioning nested stack's template per stage (the parent only holds its stack resource). */
const templates = new Map<StageName, Template>();
beforeAll(() => {
  withOutdir((outdir) => {
    const { stack } = buildApp('aws', outdir);
    const nested = stack.node.findAll().find((c) => c instanceof DeviceProvisioning) as DeviceProvisioning;
    templates.set('aws', Template.fromStack(nested));
  });
}, 300_000);
const template = (stage: StageName) => {
  const found = templates.get(stage);
  if (!found) throw new Error(`no template for ${stage}`);
  return found;
};
const only = (type: string) => {
  const found = Object.entries(resourcesOfType(template('aws'), type));
  expect(found).toHaveLength(1);
  return found[0] as [string, { Properties?: Record<string, unknown> }];
};
/** A parameter the parent passes in, as the nested template names it: `<referencetoEdgeOps...Ref>`. */
const parameterFor = (fragment: string) => {
  const names = Object.keys(template('aws').toJSON().Parameters ?? {}).filter((n: string) =>
    n.includes(fragment),
  );
  expect(names, `parameter like ${fragment}`).toHaveLength(1);
  return `<${names[0]}>`;
};

const claimPolicy = () => statementsOf(only('AWS::IoT::Policy')[1].Properties?.PolicyDocument);
const provisioningTemplate = () => {
  const templates = Object.values(resourcesOfType(template('aws'), 'AWS::IoT::ProvisioningTemplate'));
  expect(templates).toHaveLength(1);
  return templates[0]?.Properties ?? {};
};
/** The template body with the device policy's Ref kept as `<LogicalId>`. */
const templateBody = () =>
  JSON.parse(render(provisioningTemplate().TemplateBody)) as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };

/** Every `action on resource` the claim policy allows. */
const claimGrants = () =>
  claimPolicy().flatMap((s: PolicyStatement) =>
    asList(s.Action).flatMap((action) =>
      asList(s.Resource).map((r) => `${s.Effect} ${action} on ${render(r)}`),
    ),
  );

describe('DeviceProvisioning: the claim certificate policy', () => {
  it('allows only connecting as claim-* and the fleet provisioning topics of its template', () => {
    const name = provisioningTemplate().TemplateName as string;
    const topics = fleetProvisioningTopics(name);
    const replies = [
      topics.createFromCsrAccepted,
      topics.createFromCsrRejected,
      topics.provisionAccepted,
      topics.provisionRejected,
    ];
    expect(claimGrants().sort()).toEqual(
      [
        `Allow iot:Connect on ${IOT_ARN}:client/claim-*`,
        `Allow iot:Publish on ${IOT_ARN}:topic/${topics.createFromCsr}`,
        `Allow iot:Publish on ${IOT_ARN}:topic/${topics.provision}`,
        ...replies.map((t) => `Allow iot:Receive on ${IOT_ARN}:topic/${t}`),
        ...replies.map((t) => `Allow iot:Subscribe on ${IOT_ARN}:topicfilter/${t}`),
      ].sort(),
    );
  });

  it('names no wildcard action, no device topic and no shadow or jobs topic', () => {
    const text = claimGrants().join('\n');
    expect(text).not.toMatch(/iot:\*|edgeops\/|\$aws\/things|topic\/\*|topicfilter\/\*/);
  });
});

describe('DeviceProvisioning: the provisioning template', () => {
  it('is enabled, fleet provisioning, with the hook on payload version 2020-04-01', () => {
    const props = provisioningTemplate();
    expect(props.Enabled).toBe(true);
    expect(props.TemplateType).toBe('FLEET_PROVISIONING');
    expect((props.PreProvisioningHook as { PayloadVersion: string }).PayloadVersion).toBe('2020-04-01');
    expect(render((props.PreProvisioningHook as { TargetArn: unknown }).TargetArn)).toBe(
      `<${functionId(template('aws'), 'PreProvisioningHook')}.Arn>`,
    );
    expect(props.TemplateName).toMatch(/^[0-9A-Za-z_-]{1,36}$/);
  });

  it('creates the thing named by the serial with site, region and hardware type, activates the certificate, attaches the device policy', () => {
    const body = templateBody();
    const resources = Object.values(body.Resources) as {
      Type: string;
      Properties: Record<string, unknown>;
    }[];
    const thing = resources.find((r) => r.Type === 'AWS::IoT::Thing');
    expect(thing?.Properties.ThingName).toEqual({ Ref: 'SerialNumber' });
    expect(thing?.Properties.AttributePayload).toEqual({
      site: { Ref: 'Site' },
      region: { Ref: 'Region' },
      hardwareType: { Ref: 'HardwareType' },
    });
    const certificate = resources.find((r) => r.Type === 'AWS::IoT::Certificate');
    expect(certificate?.Properties).toEqual({
      CertificateId: { Ref: 'AWS::IoT::Certificate::Id' },
      Status: 'Active',
    });
    const policy = resources.find((r) => r.Type === 'AWS::IoT::Policy');
    expect(policy?.Properties.PolicyName).toBe(parameterFor('DevicePolicy'));
  });

  it('lets AWS IoT invoke the hook only for this template', () => {
    const permissions = Object.values(resourcesOfType(template('aws'), 'AWS::Lambda::Permission')).filter(
      (p) => p.Properties?.Principal === 'iot.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    expect(render(permissions[0]?.Properties?.SourceArn)).toBe(
      `${IOT_ARN}:provisioningtemplate/${provisioningTemplate().TemplateName as string}`,
    );
  });

  it('gives the provisioning role only the registry writes the template makes', () => {
    const role = render(provisioningTemplate().ProvisioningRoleArn).replace(/^<|\.Arn>$/g, '');
    expect(grants(roleStatements(template('aws'), role))).toEqual(
      [
        `iot:AttachPolicy on ${IOT_ARN}:cert/*`,
        `iot:AttachThingPrincipal on ${IOT_ARN}:thing/*`,
        `iot:CreateThing on ${IOT_ARN}:thing/*`,
        `iot:DescribeCertificate on ${IOT_ARN}:cert/*`,
        `iot:DescribeThing on ${IOT_ARN}:thing/*`,
        `iot:GetPolicy on ${IOT_ARN}:policy/${parameterFor('DevicePolicy')}`,
        `iot:UpdateCertificate on ${IOT_ARN}:cert/*`,
        `iot:UpdateThing on ${IOT_ARN}:thing/*`,
      ].sort(),
    );
  });
});

describe('DeviceProvisioning: functions', () => {
  it('the hook only reads and conditionally updates the allowlist table', () => {
    const table = `<${only('AWS::DynamoDB::Table')[0]}.Arn>`;
    expect(
      functionGrants(template('aws'), 'PreProvisioningHook').filter((g) => g.startsWith('dynamodb:')),
    ).toEqual([`dynamodb:GetItem on ${table}`, `dynamodb:UpdateItem on ${table}`]);
  });

  it('the hello function publishes only to hello topics', () => {
    const publishes = functionGrants(template('aws'), 'DeviceHelloFunction').filter((g) =>
      g.startsWith('iot:Publish'),
    );
    expect(publishes).toEqual([`iot:Publish on ${IOT_ARN}:topic/edgeops/devices/*/hello/*`]);
  });

  it('the allowlist table is encrypted and has point-in-time recovery', () => {
    const [, table] = only('AWS::DynamoDB::Table');
    expect(table.Properties?.SSESpecification).toEqual({ SSEEnabled: true });
    expect(table.Properties?.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });
});
