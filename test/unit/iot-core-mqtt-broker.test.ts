import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeviceAgent, type DeviceAgentOtaOptions } from '../../device/device-agent';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';
import { type IotCoreMqttBroker, startIotCoreMqttBroker } from '../../simulator/iot-core-mqtt-broker';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import {
  type IssuedCertificate,
  LocalCertificateAuthority,
} from '../../simulator/local-certificate-authority';
import { LocalReleaseRepository } from '../../simulator/local-release-repository';

const THING = 'dev-mqtt-1';
const OTHER_THING = 'dev-mqtt-2';
const RELEASE = { releaseId: 'rel-2', version: '2.0.0' };
const JOB = 'r1-w0';

let dir: string;
let ca: LocalCertificateAuthority;
let device: IssuedCertificate;
let otherDevice: IssuedCertificate;
let foreignDevice: IssuedCertificate;
let server: IssuedCertificate;

let core: InMemoryIotCore;
let broker: IotCoreMqttBroker;
let brokerLog: string[];
const agents: DeviceAgent[] = [];
const clients: mqtt.MqttClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iot-core-mqtt-broker-'));
  ca = await LocalCertificateAuthority.create(dir);
  [server, device, otherDevice] = await Promise.all([
    ca.issueServer(),
    ca.issueDevice(THING),
    ca.issueDevice(OTHER_THING),
  ]);
  // The right name, the wrong CA.
  const foreignDir = await mkdtemp(join(dir, 'foreign-'));
  foreignDevice = await (await LocalCertificateAuthority.create(foreignDir)).issueDevice(THING);
});

afterAll(() => rm(dir, { recursive: true, force: true }));

beforeEach(async () => {
  core = new InMemoryIotCore();
  brokerLog = [];
  broker = await startIotCoreMqttBroker({
    core,
    tls: { cert: server.certificatePem, key: server.privateKey, ca: ca.certificatePem },
    log: (line) => brokerLog.push(line),
  });
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  await broker.close();
});

function agentWith(identity: IssuedCertificate, deviceId = THING, ota?: DeviceAgentOtaOptions) {
  const agent = new DeviceAgent({
    identity: { deviceId, certificatePem: identity.certificatePem, privateKey: identity.privateKey },
    broker: { host: '127.0.0.1', port: broker.port, ca: ca.certificatePem, connectTimeoutMs: 2_000 },
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    ota,
  });
  agents.push(agent);
  return agent;
}

/** A raw mqtt.js client, as a misbehaving or foreign device would connect. */
function rawClient(identity: IssuedCertificate | undefined, clientId = THING, protocolVersion: 4 | 5 = 5) {
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: '127.0.0.1',
    port: broker.port,
    ca: ca.certificatePem,
    ...(identity ? { cert: identity.certificatePem, key: identity.privateKey } : {}),
    clientId,
    protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: 2_000,
  });
  clients.push(client);
  return client;
}

const closed = (client: mqtt.MqttClient) => new Promise<void>((resolve) => client.once('close', resolve));

/** Polls: what happens over a real socket does not wake the core's `waitFor`. */
async function eventually(check: () => boolean, what: string, timeoutMs = 3_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('IotCoreMqttBroker: connections', () => {
  it('lets a DeviceAgent on mqtt.js (MQTT 5, mutual TLS) report its shadow into the core', async () => {
    const agent = agentWith(device);

    await agent.start();

    expect(core.reportedState(THING)).toEqual({ firmwareVersion: '1.0.0' });
    expect(broker.connectedClients()).toEqual([THING]);
  });

  it('refuses a certificate that is not the thing’s: CONNACK not authorized, nothing reported', async () => {
    const agent = agentWith(otherDevice, THING);

    await expect(agent.start()).rejects.toThrow(/Not authorized/i);
    expect(core.reportedState(THING)).toBeUndefined();
  });

  it('fails the TLS handshake of a client without a certificate, or with one from another CA', async () => {
    for (const identity of [undefined, foreignDevice]) {
      const client = rawClient(identity);
      let connected = false;
      client.once('connect', () => {
        connected = true;
      });

      await closed(client);

      expect(connected).toBe(false);
    }
    expect(brokerLog.filter((line) => line.startsWith('TLS handshake refused'))).toHaveLength(2);
    expect(broker.connectedClients()).toEqual([]);
  });

  it('drops the first connection when a second one connects with the same client id', async () => {
    const first = rawClient(device);
    await new Promise((resolve) => first.once('connect', resolve));
    const firstClosed = closed(first);

    const second = rawClient(device);
    await new Promise((resolve) => second.once('connect', resolve));

    await firstClosed;
    expect(broker.connectedClients()).toEqual([THING]);
  });

  it('ends the connection of a client that publishes outside its own topics', async () => {
    const client = rawClient(device);
    await new Promise((resolve) => client.once('connect', resolve));
    const ended = closed(client);

    client.publish(`$aws/things/${OTHER_THING}/shadow/update`, '{}', { qos: 1 });

    await ended;
    expect(brokerLog.join('\n')).toMatch(/Not authorized to publish/);
  });

  it('drops the thing’s connection when the core cuts its network', async () => {
    const agent = agentWith(device);
    await agent.start();

    core.setReachable(THING, false);

    await eventually(() => !agent.online, 'the agent offline');
    expect(broker.connectedClients()).toEqual([]);
  });

  it('delivers at the QoS of the subscription, and not after UNSUBSCRIBE', async () => {
    const client = rawClient(device);
    await new Promise((resolve) => client.once('connect', resolve));
    const delta = `$aws/things/${THING}/shadow/update/delta`;
    const received: { topic: string; qos: number }[] = [];
    client.on('message', (topic, _payload, packet) => received.push({ topic, qos: packet.qos }));
    await client.subscribeAsync(delta, { qos: 1 });

    core.updateDesired(THING, { mode: 'a' });
    await eventually(() => received.length > 0, 'the delta');
    await client.unsubscribeAsync(delta);
    core.updateDesired(THING, { mode: 'b' });
    // A round trip after the second delta would have gone out: the get answer (not subscribed).
    await client.publishAsync(`$aws/things/${THING}/shadow/get`, '{}', { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(received).toEqual([{ topic: delta, qos: 1 }]);
  });
});

describe('IotCoreMqttBroker: MQTT 3.1.1', () => {
  it('serves MQTT 3.1.1 clients too: publishes reach the core, answers come back', async () => {
    const client = rawClient(device, THING, 4);
    await new Promise((resolve) => client.once('connect', resolve));
    const received: string[] = [];
    client.on('message', (_topic, payload) => received.push(payload.toString()));
    await client.subscribeAsync(`$aws/things/${THING}/shadow/get/accepted`, { qos: 1 });

    await client.publishAsync(`$aws/things/${THING}/shadow/update`, '{"state":{"reported":{"v":1}}}', {
      qos: 1,
    });
    await client.publishAsync(`$aws/things/${THING}/shadow/get`, '{}', { qos: 1 });
    await eventually(() => received.length > 0, 'the get answer');

    expect(core.reportedState(THING)).toEqual({ v: 1 });
    expect(JSON.parse(received[0] ?? '{}').state.reported).toEqual({ v: 1 });
  });
});

describe('IotCoreMqttBroker: an OTA job end to end', () => {
  let artifacts: LocalArtifactServer;
  let stateDir: string;

  beforeEach(async () => {
    artifacts = await startLocalArtifactServer();
    stateDir = await mkdtemp(join(dir, 'state-'));
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
    await artifacts.close();
  });

  it('takes a v2 job from the core’s Jobs API over MQTT, installs 2.0.0 and reports every stage', async () => {
    const repo = await LocalReleaseRepository.create(artifacts);
    const image = await repo.addImage(RELEASE, 'rpi4', Buffer.alloc(64 * 1024, 7));
    const agent = agentWith(device, THING, {
      stateDir,
      hardwareType: 'rpi4',
      allowPlainHttp: true,
      timeFactor: 0.001,
      fsync: false,
      trustRoot: repo.root,
    });
    await agent.start();

    core.createJob(
      JOB,
      repo.jobDocument({
        rolloutId: 'r1',
        operation: 'install',
        release: RELEASE,
        artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
      }),
      [THING],
    );
    const execution = await core.waitFor(
      () => {
        const e = core.execution(THING, JOB);
        return e?.status === 'SUCCEEDED' || e?.status === 'FAILED' ? e : undefined;
      },
      15_000,
      'the job to end',
    );
    await agent.whenIdle();

    expect(execution.status).toBe('SUCCEEDED');
    expect(core.otaEvents(THING).map((e) => [e.stage, e.seq])).toEqual([
      ['downloading', 0],
      ['installing', 1],
      ['rebooting', 2],
      ['healthy', 3],
    ]);
    expect(core.reportedState(THING)?.firmwareVersion).toBe('2.0.0');
    expect(agent.slot).toBe('B');
  });
});
