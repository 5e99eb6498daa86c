import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CERTIFICATE_CONFIRM_TOPIC,
  CERTIFICATE_ROTATE_TOPIC,
  CertificateRotationConfirmV1,
  CertificateRotationRequestV1,
  certificateReplyTopic,
  type RotationReplyV1,
} from '../../contract/certificate-rotation';
import * as z from '../../contract/zod-mini';
import { type MqttConnection, OfflineError, topicMatches } from '../../device/cloud/mqtt-connection';
import { type DeviceIdentity, MqttJsConnection } from '../../device/cloud/mqtt-js-connection';
import {
  CertificateRotation,
  type CertificateRotationOptions,
  certificateIdOf,
  type RotationStep,
} from '../../device/identity/certificate-rotation';
import { createCertificateRequest, createDeviceKey } from '../../device/identity/csr';
import {
  InMemoryDeviceCertificates,
  InMemoryDeviceLifecycleStore,
} from '../../functions/adapters/in-memory-device-lifecycle';
import {
  makeConfirmCertificateRotation,
  makeRequestCertificateRotation,
} from '../../functions/use-cases/rotate-device-certificate';

const root = mkdtempSync(join(tmpdir(), 'edgeops-rotation-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const caKey = join(root, 'ca.key');
const caPem = join(root, 'ca.pem');
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caPem,
    '-subj',
    '/CN=test-ca',
    '-days',
    '3650',
  ],
  { stdio: 'ignore' },
);

let signed = 0;
/** The test CA, as AWS IoT's CreateCertificateFromCsr: a certificate for the CSR's key. */
function sign(csr: string): string {
  const file = join(root, `csr-${++signed}.pem`);
  writeFileSync(file, csr);
  return execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      file,
      '-CA',
      caPem,
      '-CAkey',
      caKey,
      '-set_serial',
      String(signed + 1000),
      '-days',
      '365',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
}

/** An in-memory broker in front of the real backend use cases and in-memory AWS IoT. */
class FakeBroker {
  readonly store = new InMemoryDeviceLifecycleStore();
  readonly certificates = new InMemoryDeviceCertificates(365, sign);
  readonly #listeners = new Set<(topic: string, payload: Buffer) => void>();
  /** Set: the backend's answers are lost on the way (the request itself is processed). */
  loseReplies = false;
  readonly #replies = {
    send: async (_deviceId: string, reply: RotationReplyV1) => {
      if (this.loseReplies) return;
      const topic = certificateReplyTopic(_deviceId, reply.step, reply.verdict);
      for (const listener of this.#listeners) listener(topic, Buffer.from(JSON.stringify(reply)));
    },
  };
  readonly clock = { now: () => new Date() };
  readonly request = makeRequestCertificateRotation({
    store: this.store,
    certificates: this.certificates,
    replies: this.#replies,
    clock: this.clock,
    rateLimit: { maxIssued: 100, windowSeconds: 3600 },
  });
  readonly confirm = makeConfirmCertificateRotation({
    store: this.store,
    certificates: this.certificates,
    replies: this.#replies,
    clock: this.clock,
  });

  /** Whether AWS IoT lets this certificate connect as the device: active and attached to its thing. */
  accepts(identity: DeviceIdentity): boolean {
    const id = certificateIdOf(new X509Certificate(identity.certificatePem));
    const record = this.certificates.certificates.get(id);
    return record?.status === 'ACTIVE' && record.thing === identity.deviceId;
  }

  connect = (identity: DeviceIdentity): MqttConnection => {
    const broker = this;
    const principal = certificateIdOf(new X509Certificate(identity.certificatePem));
    const filters: string[] = [];
    let online = false;
    let ended = false;
    const mine: ((topic: string, payload: Buffer) => void)[] = [];
    const deliver = (topic: string, payload: Buffer) => {
      if (!ended && filters.some((f) => topicMatches(f, topic))) for (const l of mine) l(topic, payload);
    };
    return {
      get online() {
        return online;
      },
      async connected() {
        if (!broker.accepts(identity)) throw new Error('Connection refused: Not authorized');
        online = true;
        broker.#listeners.add(deliver);
      },
      async publish(topic, payload) {
        if (!online) throw new OfflineError(topic);
        const json = JSON.parse(payload);
        if (topic === CERTIFICATE_ROTATE_TOPIC(identity.deviceId))
          await broker.request(identity.deviceId, z.parse(CertificateRotationRequestV1, json));
        else if (topic === CERTIFICATE_CONFIRM_TOPIC(identity.deviceId))
          await broker.confirm(identity.deviceId, z.parse(CertificateRotationConfirmV1, json), principal);
      },
      async subscribe(list) {
        filters.push(...list);
      },
      onMessage: (listener) => {
        mine.push(listener);
      },
      onOnline: () => {},
      onOffline: () => {},
      async end() {
        ended = true;
        online = false;
        broker.#listeners.delete(deliver);
      },
    };
  };
}

class PowerCut extends Error {}

let devices = 0;
async function newDevice() {
  const deviceId = `dev-rot-${++devices}`;
  const stateDir = join(root, deviceId);
  mkdirSync(join(stateDir, 'factory'), { recursive: true });
  const keyPath = join(stateDir, 'factory', 'device.key');
  const privateKey = await createDeviceKey(keyPath);
  const certificatePem = sign(await createCertificateRequest(keyPath, deviceId));
  const broker = new FakeBroker();
  const factoryId = certificateIdOf(new X509Certificate(certificatePem));
  broker.certificates.seed(deviceId, 'device', factoryId);
  broker.store.put({
    deviceId,
    hardwareType: 'rpi4',
    site: 'plant-a',
    region: 'eu-west',
    status: 'registered',
    registeredAt: new Date().toISOString(),
    certificateId: factoryId,
    connection: { state: 'connected' },
  });
  const rotation = (extra: Partial<CertificateRotationOptions> = {}) =>
    new CertificateRotation({
      deviceId,
      stateDir,
      factory: { certificatePem, privateKey },
      connect: broker.connect,
      // Every certificate here lives a year: 400 days before expiry is always due.
      renewBeforeDays: 400,
      replyTimeoutMs: 500,
      durability: { fsync: false },
      ...extra,
    });
  /** What a restarted device does: the first candidate the broker accepts. */
  const connectsWith = async () => {
    for (const candidate of await rotation().identityCandidates())
      if (broker.accepts(candidate)) return candidate;
    return undefined;
  };
  return { deviceId, stateDir, broker, factoryId, rotation, connectsWith };
}

const rotatedDirs = (stateDir: string) =>
  readdirSync(join(stateDir, 'identity'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);

describe('CertificateRotation', () => {
  it('rotates: new key and certificate, the device connects with it, the old certificate is inactive', async () => {
    const { rotation, broker, factoryId, connectsWith, stateDir, deviceId } = await newDevice();

    const outcome = await rotation().rotateIfDue();

    if (outcome.outcome !== 'rotated') throw new Error(JSON.stringify(outcome));
    expect(broker.certificates.status(outcome.certificateId)).toBe('ACTIVE');
    expect(broker.certificates.status(factoryId)).toBe('INACTIVE');
    expect((await broker.store.getDevice(deviceId))?.certificateId).toBe(outcome.certificateId);
    const candidate = await connectsWith();
    expect(candidate?.source).toBe('active');
    expect(certificateIdOf(new X509Certificate(candidate?.certificatePem ?? ''))).toBe(outcome.certificateId);
    expect(rotatedDirs(stateDir)).toHaveLength(1);
  });

  it('rotates a rotated identity again and drops the previous rotated files', async () => {
    const { rotation, broker, stateDir } = await newDevice();
    const first = await rotation().rotateIfDue();
    const firstDir = rotatedDirs(stateDir);

    const second = await rotation().rotateIfDue();

    if (first.outcome !== 'rotated' || second.outcome !== 'rotated') throw new Error('not rotated');
    expect(broker.certificates.status(first.certificateId)).toBe('INACTIVE');
    expect(rotatedDirs(stateDir)).toHaveLength(1);
    expect(rotatedDirs(stateDir)).not.toEqual(firstDir);
  });

  it('is not due long before the certificate expires, nor while it is young', async () => {
    const { rotation } = await newDevice();

    expect(await rotation({ renewBeforeDays: 30, maxAgeDays: 30 }).rotateIfDue()).toMatchObject({
      outcome: 'not-due',
    });
  });

  it('is due once the certificate is older than maxAgeDays, whatever its expiry', async () => {
    const { rotation } = await newDevice();
    const day = 86_400_000;
    const later = Date.now() + 31 * day;

    const dueAt = await rotation({ renewBeforeDays: 1, maxAgeDays: 30, now: () => later }).dueAt();

    expect(Date.parse(dueAt)).toBeLessThanOrEqual(later);
    expect(Date.parse(dueAt)).toBeGreaterThan(Date.now() + 29 * day);
  });

  it('keeps the old identity and waits when the backend refuses, leaving no rotation files', async () => {
    const { rotation, broker, factoryId, connectsWith, stateDir } = await newDevice();
    broker.certificates.refuseCsr = true;

    const outcome = await rotation().rotateIfDue();

    expect(outcome).toMatchObject({ outcome: 'refused', code: 'invalid-csr' });
    expect(rotatedDirs(stateDir)).toEqual([]);
    expect(broker.certificates.status(factoryId)).toBe('ACTIVE');
    expect((await connectsWith())?.source).toBe('active');
    expect(await rotation().rotateIfDue()).toMatchObject({ outcome: 'not-due' });
  });

  it('asks again with the same request id after a lost answer and gets the same certificate', async () => {
    const { rotation, broker } = await newDevice();
    broker.loseReplies = true;
    expect(await rotation().rotateIfDue()).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(/no answer/),
    });
    const issued = [...broker.certificates.certificates.keys()];
    broker.loseReplies = false;

    const outcome = await rotation().rotateIfDue();

    expect(outcome.outcome).toBe('rotated');
    // No certificate beyond the one issued for the lost answer.
    expect([...broker.certificates.certificates.keys()]).toEqual(issued);
  });

  describe('a power cut', () => {
    const steps: RotationStep[] = ['key-made', 'issued', 'new-identity-connected', 'confirmed', 'promoted'];
    for (const step of steps) {
      it(`after step ${step}: the device still connects on restart, and the rotation finishes`, async () => {
        const { rotation, broker, connectsWith, factoryId, stateDir } = await newDevice();
        const cut = rotation({
          afterStep: (at) => {
            if (at === step) throw new PowerCut(at);
          },
        });
        await expect(cut.rotateIfDue()).resolves.toMatchObject({ outcome: 'failed' });

        expect(await connectsWith()).toBeDefined();
        const resumed = await rotation().rotateIfDue();

        // Every certificate here is always due (renewBeforeDays 400): after `promoted` the restart
        // rotates once more, from the new identity.
        expect(resumed.outcome).toBe('rotated');
        const candidate = await connectsWith();
        expect(candidate).toBeDefined();
        expect(certificateIdOf(new X509Certificate(candidate?.certificatePem ?? ''))).not.toBe(factoryId);
        expect(broker.certificates.status(factoryId)).toBe('INACTIVE');
        expect(rotatedDirs(stateDir)).toHaveLength(1);
      });
    }

    it('at every write point: the device always has an identity that connects, and a restart finishes', async () => {
      // Count the write points of one whole rotation first.
      const probe = await newDevice();
      let writes = 0;
      await probe.rotation({ durability: { fsync: false, beforeWrite: () => void writes++ } }).rotateIfDue();
      expect(writes).toBeGreaterThanOrEqual(4);

      for (let cutAt = 1; cutAt <= writes; cutAt++) {
        const { rotation, connectsWith, broker } = await newDevice();
        let n = 0;
        const cut = rotation({
          durability: {
            fsync: false,
            beforeWrite: () => {
              if (++n === cutAt) throw new PowerCut(`write ${cutAt}`);
            },
          },
        });
        await cut.rotateIfDue();

        expect(await connectsWith(), `after a cut at write ${cutAt}`).toBeDefined();
        const resumed = await rotation().rotateIfDue();
        expect(['rotated', 'not-due']).toContain(resumed.outcome);
        const candidate = await connectsWith();
        expect(candidate, `after resuming from a cut at write ${cutAt}`).toBeDefined();
        const active = [...broker.certificates.certificates.values()].filter((c) => c.status === 'ACTIVE');
        expect(active, `one active certificate after a cut at write ${cutAt}`).toHaveLength(1);
      }
    });

    it('falls back to the old identity when the new certificate files are incomplete', async () => {
      const { rotation, stateDir, connectsWith } = await newDevice();
      const cut = rotation({
        afterStep: (at) => {
          if (at === 'issued') throw new PowerCut(at);
        },
      });
      await cut.rotateIfDue();
      const [dir] = rotatedDirs(stateDir);
      // A torn certificate file (as a filesystem without atomic rename might leave).
      const certificateFile = join(stateDir, 'identity', dir ?? '', 'certificate.pem');
      writeFileSync(certificateFile, readFileSync(certificateFile, 'utf8').slice(0, 100));

      const candidates = await rotation().identityCandidates();

      expect(candidates.map((c) => c.source)).toEqual(['active']);
      expect((await connectsWith())?.source).toBe('active');
    });
  });
});

describe('MqttJsConnection with a refused certificate', () => {
  it('fails the first connect when the broker closes without a CONNACK (as AWS IoT refuses a revoked certificate)', async () => {
    const serverKey = join(root, 'server.key');
    const serverCsr = join(root, 'server.csr');
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        serverKey,
        '-out',
        serverCsr,
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const serverCert = execFileSync(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        serverCsr,
        '-CA',
        caPem,
        '-CAkey',
        caKey,
        '-set_serial',
        '7',
        '-days',
        '1',
        '-copy_extensions',
        'copy',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const server = createServer({ key: readFileSync(serverKey), cert: serverCert }, (socket) =>
      socket.destroy(),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const { deviceId, stateDir } = await newDevice();
    const keyPath = join(stateDir, 'factory', 'device.key');
    const identity = {
      deviceId,
      privateKey: readFileSync(keyPath, 'utf8'),
      certificatePem: sign(await createCertificateRequest(keyPath, deviceId)),
    };
    const connection = new MqttJsConnection(identity, {
      host: '127.0.0.1',
      port,
      ca: readFileSync(caPem, 'utf8'),
    });
    try {
      await expect(connection.connected()).rejects.toThrow(/closed the connection before CONNACK/);
    } finally {
      await connection.end(true);
      server.close();
    }
  });
});
