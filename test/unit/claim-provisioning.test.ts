import { createPublicKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fleetProvisioningTopics, helloTopics } from '../../contract/provisioning';
import type { MqttConnection } from '../../device/cloud/mqtt-connection';
import { claimIdentityOnFirstBoot } from '../../device/daemon/claim-on-first-boot';
import {
  type ClaimProvisioningOptions,
  ClaimRefusedError,
  provisionByClaim,
  provisionByClaimWithRetry,
} from '../../device/identity/claim-provisioning';

const TEMPLATE = 'EdgeOps-claim';
const topics = fleetProvisioningTopics(TEMPLATE);

/**
 * The fleet provisioning MQTT API and the hello answer, in memory: a certificate per CSR, and
 * RegisterThing decided by `decide` (the hook); counts what was asked.
 */
class FakeFleetProvisioning {
  readonly sessions: string[] = [];
  readonly csrs: string[] = [];
  readonly registrations: { token: string; parameters: unknown }[] = [];
  decide: (serial: unknown) => 'allow' | 'deny' = () => 'allow';
  /** Throws inside publish of this topic, as a power cut mid-request would end the process. */
  cutOn?: string;
  #certificates = 0;

  connect = (identity: { clientId: string }): MqttConnection => {
    this.sessions.push(identity.clientId);
    const listeners: ((topic: string, payload: Buffer) => void)[] = [];
    const deliver = (topic: string, payload: unknown) =>
      queueMicrotask(() => {
        for (const listener of listeners) listener(topic, Buffer.from(JSON.stringify(payload)));
      });
    return {
      online: true,
      connected: async () => {},
      subscribe: async () => {},
      onMessage: (listener) => listeners.push(listener),
      onOnline: () => {},
      onOffline: () => {},
      end: async () => {},
      publish: async (topic, text) => {
        if (topic === this.cutOn) throw new Error('power cut');
        const body = JSON.parse(text) as Record<string, unknown>;
        if (topic === topics.createFromCsr) {
          this.csrs.push(String(body.certificateSigningRequest));
          const n = ++this.#certificates;
          deliver(topics.createFromCsrAccepted, {
            certificateId: `cert-${n}`,
            certificatePem: `-----BEGIN CERTIFICATE-----\ncert-${n}\n-----END CERTIFICATE-----\n`,
            certificateOwnershipToken: `token-${n}`,
          });
        } else if (topic === topics.provision) {
          const parameters = body.parameters as Record<string, unknown>;
          this.registrations.push({ token: String(body.certificateOwnershipToken), parameters });
          if (this.decide(parameters.SerialNumber) === 'deny')
            deliver(topics.provisionRejected, {
              statusCode: 403,
              errorCode: 'AccessDenied',
              errorMessage: 'Access Denied',
            });
          else
            deliver(topics.provisionAccepted, {
              thingName: parameters.SerialNumber,
              deviceConfiguration: {},
            });
        } else if (topic === helloTopics('SN-1').request) {
          deliver(helloTopics('SN-1').accepted, {
            schemaVersion: 1,
            requestId: body.requestId,
            deviceId: 'SN-1',
            site: 'plant-7',
            region: 'eu',
            hardwareType: 'gw-v2',
            trustRoot: { signed: { _type: 'root', version: 1 } },
            configuration: { shadowName: 'config', delivery: 'delivered' },
          });
        }
      },
    };
  };
}

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setup(fake: FakeFleetProvisioning, overrides: Partial<ClaimProvisioningOptions> = {}) {
  dir = mkdtempSync(join(tmpdir(), 'edgeops-claim-'));
  return {
    serial: 'SN-1',
    templateName: TEMPLATE,
    claim: { certificatePem: 'CLAIM CERT', privateKey: 'CLAIM KEY' },
    certificatePath: join(dir, 'device.crt'),
    privateKeyPath: join(dir, 'device.key'),
    trustRootPath: join(dir, 'root.json'),
    stateDir: join(dir, 'state'),
    connect: fake.connect,
    answerTimeoutMs: 2_000,
    durability: { fsync: false },
    ...overrides,
  } satisfies ClaimProvisioningOptions;
}

describe('provisionByClaim', () => {
  it('gets a certificate for a key made on the device, registers, commits, and says hello on the new identity', async () => {
    const fake = new FakeFleetProvisioning();
    const options = setup(fake);

    const result = await provisionByClaim(options);

    expect(result).toMatchObject({ deviceId: 'SN-1', certificateId: 'cert-1', provisioned: true });
    expect(fake.sessions).toEqual([expect.stringMatching(/^claim-[0-9a-f]{16}$/), 'SN-1']);
    expect(fake.registrations).toEqual([{ token: 'token-1', parameters: { SerialNumber: 'SN-1' } }]);
    expect(readFileSync(options.certificatePath, 'utf8')).toContain('cert-1');
    const key = readFileSync(options.privateKeyPath, 'utf8');
    expect(createPublicKey(key).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(fake.csrs[0]).toContain('-----BEGIN CERTIFICATE REQUEST-----');
    expect(JSON.parse(readFileSync(options.trustRootPath, 'utf8'))).toEqual({
      signed: { _type: 'root', version: 1 },
    });
    expect(existsSync(join(options.stateDir, 'claim', 'pending.key'))).toBe(false);
    expect(existsSync(join(options.stateDir, 'claim', 'pending-certificate.json'))).toBe(false);
  });

  it('does nothing once the identity exists', async () => {
    const fake = new FakeFleetProvisioning();
    const options = setup(fake);
    await provisionByClaim(options);

    const again = await provisionByClaim(options);

    expect(again.provisioned).toBe(false);
    expect(fake.sessions).toEqual([expect.stringMatching(/^claim-[0-9a-f]{16}$/), 'SN-1']);
  });

  it('after a power cut between the commit and the hello answer, says hello again on the next boot', async () => {
    const fake = new FakeFleetProvisioning();
    fake.cutOn = helloTopics('SN-1').request;
    const options = setup(fake);
    await expect(provisionByClaim(options)).rejects.toThrow('power cut');
    expect(existsSync(options.certificatePath)).toBe(true);

    fake.cutOn = undefined;
    const again = await provisionByClaim(options);

    expect(again.hello?.deviceId).toBe('SN-1');
    expect(fake.csrs).toHaveLength(1);
    expect(fake.sessions.slice(1)).toEqual(['SN-1', 'SN-1']);
    expect(existsSync(options.trustRootPath)).toBe(true);
  });

  it('reports a refusal with its code and a hint, and writes no identity', async () => {
    const fake = new FakeFleetProvisioning();
    fake.decide = () => 'deny';
    const options = setup(fake);

    const failure = await provisionByClaim(options).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ClaimRefusedError);
    expect((failure as ClaimRefusedError).code).toBe('AccessDenied');
    expect((failure as Error).message).toMatch(/not on the allowlist, it was already used/);
    expect(existsSync(options.certificatePath)).toBe(false);
    expect(existsSync(options.privateKeyPath)).toBe(false);
  });

  it('after a power cut during RegisterThing, retries with the same key and certificate', async () => {
    const fake = new FakeFleetProvisioning();
    fake.cutOn = topics.provision;
    const options = setup(fake);
    await expect(provisionByClaim(options)).rejects.toThrow('power cut');
    const pendingKey = readFileSync(join(options.stateDir, 'claim', 'pending.key'), 'utf8');

    fake.cutOn = undefined;
    await provisionByClaim(options);

    expect(fake.csrs).toHaveLength(1);
    expect(fake.registrations.map((r) => r.token)).toEqual(['token-1']);
    expect(readFileSync(options.privateKeyPath, 'utf8')).toBe(pendingKey);
    expect(readFileSync(options.certificatePath, 'utf8')).toContain('cert-1');
  });

  it('after a power cut between writing the key and the certificate, has no identity and completes on the next boot', async () => {
    const fake = new FakeFleetProvisioning();
    const base = setup(fake);
    const cut = {
      ...base,
      durability: {
        fsync: false,
        beforeWrite: (path: string) => {
          if (path === base.certificatePath) throw new Error('power cut');
        },
      },
    };
    await expect(provisionByClaim(cut)).rejects.toThrow('power cut');
    expect(existsSync(base.certificatePath)).toBe(false);

    await provisionByClaim(base);

    expect(readFileSync(base.certificatePath, 'utf8')).toContain('cert-1');
    // The same certificate registered again: the hook lets its own certificate re-claim the serial.
    expect(fake.registrations.map((r) => r.token)).toEqual(['token-1', 'token-1']);
  });
});

describe('provisionByClaimWithRetry', () => {
  it('retries a refusal with backoff until the serial is allowed', async () => {
    const fake = new FakeFleetProvisioning();
    let attempts = 0;
    fake.decide = () => (++attempts < 3 ? 'deny' : 'allow');
    const logged: string[] = [];

    const result = await provisionByClaimWithRetry(setup(fake, { log: (m) => logged.push(m) }), {
      retryFirstMs: 1,
      retryMaxMs: 4,
    });

    expect(result.provisioned).toBe(true);
    expect(attempts).toBe(3);
    expect(logged.filter((m) => m.includes('RegisterThing refused: AccessDenied'))).toHaveLength(2);
  });

  it('gives up after maxAttempts with the last refusal', async () => {
    const fake = new FakeFleetProvisioning();
    fake.decide = () => 'deny';

    await expect(
      provisionByClaimWithRetry(setup(fake), { retryFirstMs: 1, maxAttempts: 2 }),
    ).rejects.toBeInstanceOf(ClaimRefusedError);
    expect(fake.registrations).toHaveLength(2);
  });
});

describe('claimIdentityOnFirstBoot (the agent start-up hook)', () => {
  const config = (extra: Record<string, unknown>) => ({
    deviceId: 'SN-1',
    hardwareType: 'gw',
    factoryVersion: '1.0.0',
    identity: {
      certificate: join(dir, 'device.crt'),
      privateKey: join(dir, 'device.key'),
      ca: join(dir, 'ca.pem'),
    },
    mqtt: { host: 'localhost' },
    stateDir: join(dir, 'state'),
    ...extra,
  });

  it('does nothing for a config without claim', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgeops-claim-boot-'));
    writeFileSync(join(dir, 'agent.json'), JSON.stringify(config({})));

    expect(await claimIdentityOnFirstBoot(join(dir, 'agent.json'), { log: () => {} })).toBe(false);
  });

  it('refuses, naming the field, a claim certificate it cannot read', async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgeops-claim-boot-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    writeFileSync(
      join(dir, 'agent.json'),
      JSON.stringify(
        config({
          claim: {
            certificate: join(dir, 'missing.crt'),
            privateKey: join(dir, 'claim.key'),
            templateName: 't',
          },
        }),
      ),
    );

    await expect(claimIdentityOnFirstBoot(join(dir, 'agent.json'), { log: () => {} })).rejects.toThrow(
      /claim\.certificate: .*missing\.crt: cannot read it/,
    );
  });
});
