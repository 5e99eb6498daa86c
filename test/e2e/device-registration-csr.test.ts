/**
 * Registration with a CSR made on the device: the private key never leaves it, and the answer
 * says how to connect (MQTT host and port of local AWS's broker, and its CA).
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeThingCommand, IoTClient, ResourceNotFoundException } from '@aws-sdk/client-iot';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DeviceAgent } from '../../device/device-agent';
import { createKeyAndCertificateRequest } from '../../device/identity/csr';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { api, context, eventually, profile } from './support';

const iot = () => new IoTClient(localClientConfig(context()));
const dir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-csr-'));
const agents: DeviceAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the device does before it registers: its own key, and a CSR for it. */
const onTheDevice = (deviceId: string) =>
  createKeyAndCertificateRequest(join(dir, `${deviceId}.key`), deviceId);

async function expectNothingWritten(deviceId: string) {
  expect((await api('admin').request('GET', `devices/${deviceId}`)).status).toBe(404);
  await expect(iot().send(new DescribeThingCommand({ thingName: deviceId }))).rejects.toBeInstanceOf(
    ResourceNotFoundException,
  );
}

describe('POST /devices with a CSR', () => {
  it('returns a certificate for the device key, no private key, and the broker and CA to connect with', async () => {
    const request = profile();
    const { privateKeyPem, csrPem } = await onTheDevice(request.deviceId);

    const { status, body } = await api().request<Record<string, Record<string, unknown>>>('POST', 'devices', {
      ...request,
      csr: csrPem,
    });

    expect(status).toBe(201);
    expect(body.credentials).not.toHaveProperty('privateKey');
    const certificate = new X509Certificate(String(body.credentials?.certificatePem));
    expect(certificate.publicKey.export({ type: 'spki', format: 'pem' })).toEqual(
      createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }),
    );
    const { mqtt } = context();
    expect(body.mqtt).toEqual({
      host: mqtt.host,
      port: mqtt.port,
      endpoint: mqtt.host,
      clientId: request.deviceId,
    });
    expect(body.caCertificatePem).toBe(mqtt.ca);
    expect(certificate.checkIssued(new X509Certificate(mqtt.ca))).toBe(true);
  });

  it('connects over MQTT with mutual TLS from the answer alone and the key kept on the device, and reports firmware', async () => {
    const request = profile();
    const { privateKeyPem, csrPem } = await onTheDevice(request.deviceId);
    const registration = await api().registerDevice({ ...request, csr: csrPem });
    const agent = new DeviceAgent({
      identity: {
        deviceId: registration.device.deviceId,
        certificatePem: registration.credentials.certificatePem,
        privateKey: privateKeyPem,
      },
      broker: {
        host: registration.mqtt.host,
        port: registration.mqtt.port,
        ca: registration.caCertificatePem,
      },
      firmwareVersion: '3.1.4',
    });
    agents.push(agent);

    await agent.start();

    const device = await eventually(async () => {
      const seen = await api('viewer').getDevice(request.deviceId);
      return seen.firmwareVersion === '3.1.4' && seen.connection.state === 'connected' ? seen : undefined;
    });
    expect(device.certificateId).toBe(registration.credentials.certificateId);
  });

  it('answers 400 naming csr for a malformed CSR, and creates neither thing nor record', async () => {
    const request = profile();

    const { status, body } = await api().request('POST', 'devices', { ...request, csr: 'not a CSR' });

    expect(status).toBe(400);
    expect(body).toMatchObject({ errors: [{ field: 'csr' }] });
    await expectNothingWritten(request.deviceId);
  });

  it('answers 400 naming csr for a well-formed CSR AWS IoT refuses (RSA 1024), and leaves nothing behind', async () => {
    const request = profile();
    const weak = execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'rsa:1024',
        '-nodes',
        '-keyout',
        '/dev/null',
        '-subj',
        `/CN=${request.deviceId}`,
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );

    const { status, body } = await api().request('POST', 'devices', { ...request, csr: weak });

    expect(status).toBe(400);
    expect(body).toMatchObject({ errors: [{ field: 'csr' }] });
    await expectNothingWritten(request.deviceId);
    // The id is free again: the device can try once more with a key AWS IoT takes.
    const { csrPem } = await onTheDevice(request.deviceId);
    expect((await api().request('POST', 'devices', { ...request, csr: csrPem })).status).toBe(201);
  });
});

describe('POST /devices without a CSR', () => {
  it('still returns the key AWS IoT made, now with the broker and CA to connect with', async () => {
    const registration = await api().registerDevice(profile());

    expect(registration.credentials.privateKey).toContain('PRIVATE KEY');
    const { mqtt } = context();
    expect(registration.mqtt).toMatchObject({ host: mqtt.host, port: mqtt.port, endpoint: mqtt.host });
    expect(registration.caCertificatePem).toBe(mqtt.ca);
  });
});
