import { AMAZON_ROOT_CA_1_PEM } from './amazon-root-ca';

/**
 * Where devices connect, as the stack configures the registration Lambda. In AWS none is set:
 * the host is the account's `iot:Data-ATS` endpoint (DescribeEndpoint at run time), the port
 * 8883 and the CA Amazon Root CA 1. Local AWS sets all three (scripts/local-aws/deploy.ts).
 */
export const DEVICE_CONNECTION_ENV = {
  mqttHost: 'DEVICE_MQTT_HOST',
  mqttPort: 'DEVICE_MQTT_PORT',
  caCertificatePem: 'DEVICE_CA_CERTIFICATE_PEM',
} as const;

/** MQTT over TLS, the port AWS IoT Core serves mutual-TLS devices on. */
export const AWS_IOT_MQTT_PORT = 8883;

export interface DeviceConnectionConfig {
  /** Absent: ask AWS IoT for the account's `iot:Data-ATS` endpoint. */
  readonly mqttHost?: string;
  readonly mqttPort: number;
  readonly caCertificatePem: string;
}

/** Reads the configuration at cold start; a malformed value fails naming its variable. */
export function deviceConnectionFromEnv(env: NodeJS.ProcessEnv = process.env): DeviceConnectionConfig {
  const host = env[DEVICE_CONNECTION_ENV.mqttHost] || undefined;
  const portText = env[DEVICE_CONNECTION_ENV.mqttPort] || undefined;
  const ca = env[DEVICE_CONNECTION_ENV.caCertificatePem] || undefined;
  const port = portText === undefined ? AWS_IOT_MQTT_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new Error(`${DEVICE_CONNECTION_ENV.mqttPort} must be a port number (1-65535), got '${portText}'`);
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error(`${DEVICE_CONNECTION_ENV.caCertificatePem} must be a PEM certificate`);
  return {
    ...(host ? { mqttHost: host } : {}),
    mqttPort: port,
    caCertificatePem: ca ?? AMAZON_ROOT_CA_1_PEM,
  };
}
