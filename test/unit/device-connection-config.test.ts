import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AMAZON_ROOT_CA_1_PEM } from '../../functions/shared/amazon-root-ca';
import { deviceConnectionFromEnv } from '../../functions/shared/device-connection-config';

describe('AMAZON_ROOT_CA_1_PEM', () => {
  it('is Amazon Root CA 1 as amazontrust.com publishes it (subject, fingerprint, expiry)', () => {
    const ca = new X509Certificate(AMAZON_ROOT_CA_1_PEM);

    expect(ca.subject).toBe('C=US\nO=Amazon\nCN=Amazon Root CA 1');
    expect(ca.fingerprint256).toBe(
      '8E:CD:E6:88:4F:3D:87:B1:12:5B:A3:1A:C3:FC:B1:3D:70:16:DE:7F:57:CC:90:4F:E1:CB:97:C6:AE:98:19:6E',
    );
    expect(new Date(ca.validTo).toISOString()).toBe('2038-01-17T00:00:00.000Z');
  });
});

describe('deviceConnectionFromEnv', () => {
  it('defaults to AWS IoT Core: no host (looked up at run time), port 8883, Amazon Root CA 1', () => {
    expect(deviceConnectionFromEnv({})).toEqual({ mqttPort: 8883, caCertificatePem: AMAZON_ROOT_CA_1_PEM });
  });

  it('takes a local broker and its CA from the environment', () => {
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

    expect(
      deviceConnectionFromEnv({
        DEVICE_MQTT_HOST: 'localhost',
        DEVICE_MQTT_PORT: '18883',
        DEVICE_CA_CERTIFICATE_PEM: ca,
      }),
    ).toEqual({ mqttHost: 'localhost', mqttPort: 18883, caCertificatePem: ca });
  });

  it('fails at cold start naming the variable when the port is not a port', () => {
    expect(() => deviceConnectionFromEnv({ DEVICE_MQTT_PORT: '88830' })).toThrow(/DEVICE_MQTT_PORT/);
  });

  it('fails at cold start naming the variable when the CA is not a PEM certificate', () => {
    expect(() => deviceConnectionFromEnv({ DEVICE_CA_CERTIFICATE_PEM: 'ca.pem' })).toThrow(
      /DEVICE_CA_CERTIFICATE_PEM/,
    );
  });
});
