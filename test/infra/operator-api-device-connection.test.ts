import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { UserPool } from 'aws-cdk-lib/aws-cognito';
import { beforeAll, describe, expect, it } from 'vitest';
import { FleetStore } from '../../lib/fleet-store';
import { type DeviceConnectionSettings, OperatorApi } from '../../lib/operator-api';
import { withOutdir } from './synth';
import { functionId, resource } from './template-queries';

const LOCAL_BROKER: DeviceConnectionSettings = {
  mqttHost: 'localhost',
  mqttPort: 18883,
  caCertificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

/** The operator API alone (its three Lambdas bundle far faster than the whole stack's). */
function synth(deviceConnection?: DeviceConnectionSettings): Template {
  return withOutdir((outdir) => {
    const stack = new Stack(new App({ outdir }), 'Api');
    new OperatorApi(stack, 'OperatorApi', {
      fleet: new FleetStore(stack, 'Fleet'),
      userPool: new UserPool(stack, 'Pool'),
      devicePolicyName: 'device-policy',
      webAcl: false,
      ...(deviceConnection ? { deviceConnection } : {}),
    });
    return Template.fromStack(stack);
  });
}

const registerEnvironment = (template: Template): Record<string, unknown> => {
  const environment = resource(template, functionId(template, 'RegisterDevice')).Properties?.Environment as
    | { Variables?: Record<string, unknown> }
    | undefined;
  return environment?.Variables ?? {};
};

describe('OperatorApi: where the registration answer sends devices', () => {
  let aws: Template;
  let local: Template;
  beforeAll(() => {
    aws = synth();
    local = synth(LOCAL_BROKER);
  });

  it('configures no broker by default, so the Lambda answers with AWS IoT Core (Data-ATS, 8883, Amazon Root CA 1)', () => {
    expect(
      Object.keys(registerEnvironment(aws))
        .filter((name) => name.startsWith('DEVICE_'))
        .sort(),
    ).toEqual(['DEVICE_POLICY_NAME']);
  });

  it('hands a given broker and its CA to the registration Lambda', () => {
    expect(registerEnvironment(local)).toMatchObject({
      DEVICE_MQTT_HOST: 'localhost',
      DEVICE_MQTT_PORT: '18883',
      DEVICE_CA_CERTIFICATE_PEM: LOCAL_BROKER.caCertificatePem,
    });
  });
});
