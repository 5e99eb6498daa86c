import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { RotationReplyV1 } from '../../contract/certificate-rotation';
import {
  InMemoryDeviceCertificates,
  InMemoryDeviceLifecycleStore,
  InMemoryRotationReplies,
} from '../../functions/adapters/in-memory-device-lifecycle';
import { readCsrFacts, rotationCsrProblem } from '../../functions/domain/csr-subject';
import type { Device } from '../../functions/domain/device';
import { rotationAllowance } from '../../functions/domain/device-lifecycle';
import {
  makeConfirmCertificateRotation,
  makeRequestCertificateRotation,
} from '../../functions/use-cases/rotate-device-certificate';

function csr(subject: string, key: string[] = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']) {
  return execFileSync(
    'openssl',
    ['req', '-new', ...key, '-nodes', '-keyout', '/dev/null', '-subj', subject],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
}

const DEVICE = 'dev-rot-1';
const goodCsr = csr(`/CN=${DEVICE}`);

function setup(now = new Date('2030-06-01T00:00:00Z')) {
  const store = new InMemoryDeviceLifecycleStore();
  const certificates = new InMemoryDeviceCertificates();
  const replies = new InMemoryRotationReplies();
  const original = certificates.seed(DEVICE);
  const device: Device = {
    deviceId: DEVICE,
    hardwareType: 'rpi4',
    site: 'plant-a',
    region: 'eu-west',
    status: 'registered',
    registeredAt: '2029-06-01T00:00:00Z',
    certificateId: original.certificateId,
    connection: { state: 'connected' },
  };
  store.put(device);
  const clock = { now: () => now };
  const ports = { store, certificates, replies, clock };
  return {
    store,
    certificates,
    replies,
    original,
    clock,
    request: makeRequestCertificateRotation(ports),
    confirm: makeConfirmCertificateRotation(ports),
  };
}

const request = (requestId = 'req-00000001', text = goodCsr) => ({
  schema: 'edgeops.certificate-rotation.request.v1' as const,
  requestId,
  csr: text,
});

const accepted = (reply: RotationReplyV1) => {
  if (reply.verdict !== 'accepted') throw new Error(`rejected: ${reply.code} ${reply.message}`);
  return reply;
};

describe('rotationCsrProblem', () => {
  it('accepts an EC P-256 CSR whose subject is exactly CN=<device id>', () => {
    expect(rotationCsrProblem(goodCsr, DEVICE)).toBeUndefined();
    expect(readCsrFacts(goodCsr).commonName).toBe(DEVICE);
  });

  it('refuses a CSR for another device, naming the subject it has', () => {
    expect(rotationCsrProblem(csr('/CN=someone-else'), DEVICE)).toMatch(
      /CN=dev-rot-1.*2\.5\.4\.3=someone-else/,
    );
  });

  it('refuses a subject with more than the common name', () => {
    expect(rotationCsrProblem(csr(`/O=acme/CN=${DEVICE}`), DEVICE)).toMatch(/exactly CN=/);
  });

  it('refuses an RSA key and an EC key on another curve', () => {
    expect(rotationCsrProblem(csr(`/CN=${DEVICE}`, ['-newkey', 'rsa:2048']), DEVICE)).toMatch(/EC on P-256/);
    expect(
      rotationCsrProblem(
        csr(`/CN=${DEVICE}`, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']),
        DEVICE,
      ),
    ).toMatch(/EC on 1\.3\.132\.0\.34/);
  });

  it('refuses text that is not a PEM CSR', () => {
    expect(rotationCsrProblem('hello', DEVICE)).toMatch(/^csr: must be a PEM/);
  });
});

describe('rotationAllowance', () => {
  const limit = { maxIssued: 2, windowSeconds: 3600 };
  it('drops issues older than the window and allows while under the limit', () => {
    const now = new Date('2030-01-01T12:00:00Z');
    expect(rotationAllowance(['2030-01-01T10:00:00Z', '2030-01-01T11:30:00Z'], now, limit)).toEqual({
      allowed: true,
      recent: ['2030-01-01T11:30:00Z'],
    });
  });

  it('says when the oldest issue in a full window leaves it', () => {
    const now = new Date('2030-01-01T12:00:00Z');
    expect(rotationAllowance(['2030-01-01T11:10:00Z', '2030-01-01T11:40:00Z'], now, limit)).toEqual({
      allowed: false,
      retryAt: '2030-01-01T12:10:00.000Z',
    });
  });
});

describe('makeRequestCertificateRotation', () => {
  it('issues an active certificate with the device policy, attached to the thing, and keeps the old one active', async () => {
    const { request: ask, store, certificates, original, replies } = setup();

    const reply = accepted(await ask(DEVICE, request()));

    expect(reply.certificatePem).toBe(`PEM ${reply.certificateId}`);
    expect(certificates.status(reply.certificateId)).toBe('ACTIVE');
    expect(certificates.policiesOf(reply.certificateId)).toEqual(['device']);
    expect(certificates.status(original.certificateId)).toBe('ACTIVE');
    const device = await store.getDevice(DEVICE);
    expect(device?.rotation).toMatchObject({
      requestId: 'req-00000001',
      state: 'issued',
      certificateId: reply.certificateId,
    });
    expect(device?.certificateId).toBe(original.certificateId);
    expect(replies.sent).toEqual([{ deviceId: DEVICE, reply }]);
  });

  it('answers a repeated request with the same certificate and issues nothing new', async () => {
    const { request: ask, certificates } = setup();
    const first = accepted(await ask(DEVICE, request()));
    const issuesBefore = certificates.calls.filter((c) => c === 'issue').length;

    const again = accepted(await ask(DEVICE, request()));

    expect(again.certificateId).toBe(first.certificateId);
    expect(certificates.calls.filter((c) => c === 'issue').length).toBe(issuesBefore);
  });

  it('gives a quarantined device a certificate with the quarantine policy', async () => {
    const { request: ask, store, certificates } = setup();
    await store.setQuarantine(DEVICE, {
      reason: 'r',
      by: 'op',
      source: 'operator',
      since: '2030-01-01T00:00:00Z',
    });

    const reply = accepted(await ask(DEVICE, request()));

    expect(certificates.policiesOf(reply.certificateId)).toEqual(['quarantine']);
  });

  it('deactivates the certificate of an abandoned request when the device asks again with a new id', async () => {
    const { request: ask, certificates } = setup();
    const abandoned = accepted(await ask(DEVICE, request('req-00000001')));

    const fresh = accepted(await ask(DEVICE, request('req-00000002')));

    expect(fresh.certificateId).not.toBe(abandoned.certificateId);
    expect(certificates.status(abandoned.certificateId)).toBe('INACTIVE');
    expect(certificates.status(fresh.certificateId)).toBe('ACTIVE');
  });

  it('refuses a CSR for another device with the reason, and issues nothing', async () => {
    const { request: ask, certificates, store } = setup();

    const reply = await ask(DEVICE, request('req-00000001', csr('/CN=other-device')));

    expect(reply).toMatchObject({
      verdict: 'rejected',
      code: 'invalid-csr',
      message: expect.stringMatching(/CN=dev-rot-1/),
    });
    expect(certificates.calls).not.toContain('issue');
    expect((await store.getDevice(DEVICE))?.rotation).toBeUndefined();
  });

  it('refuses a CSR the certificate authority refuses, as invalid-csr', async () => {
    const { request: ask, certificates } = setup();
    certificates.refuseCsr = true;

    expect(await ask(DEVICE, request())).toMatchObject({ verdict: 'rejected', code: 'invalid-csr' });
  });

  it('rate-limits a device after four issues in a day, saying when to ask again', async () => {
    const { request: ask } = setup();
    for (let i = 1; i <= 4; i++) accepted(await ask(DEVICE, request(`req-0000000${i}`)));

    const fifth = await ask(DEVICE, request('req-00000005'));

    expect(fifth).toMatchObject({
      verdict: 'rejected',
      code: 'rate-limited',
      retryAt: '2030-06-02T00:00:00.000Z',
    });
  });

  it('refuses a retired device', async () => {
    const { request: ask, store } = setup();
    await store.markRetired(DEVICE, { reason: 'r', by: 'admin', at: '2030-01-01T00:00:00Z' });

    expect(await ask(DEVICE, request())).toMatchObject({ verdict: 'rejected', code: 'device-not-active' });
  });
});

describe('makeConfirmCertificateRotation', () => {
  const confirmOf = (reply: Extract<RotationReplyV1, { verdict: 'accepted' }>) => ({
    schema: 'edgeops.certificate-rotation.confirm.v1' as const,
    requestId: reply.requestId,
    certificateId: reply.certificateId,
  });

  it('makes the new certificate the device own and deactivates every other one, once confirmed over it', async () => {
    const { request: ask, confirm, store, certificates, original } = setup();
    const issued = accepted(await ask(DEVICE, request()));
    const stray = certificates.seed(DEVICE);

    const reply = await confirm(DEVICE, confirmOf(issued), issued.certificateId);

    expect(reply).toMatchObject({
      verdict: 'accepted',
      step: 'confirm',
      certificateId: issued.certificateId,
    });
    const device = await store.getDevice(DEVICE);
    expect(device?.certificateId).toBe(issued.certificateId);
    expect(device?.certificateNotAfter).toBe(issued.notAfter);
    expect(device?.rotation).toMatchObject({
      state: 'confirmed',
      previousCertificateId: original.certificateId,
    });
    expect(device?.rotation?.certificatePem).toBeUndefined();
    expect(certificates.status(original.certificateId)).toBe('INACTIVE');
    expect(certificates.status(stray.certificateId)).toBe('INACTIVE');
    expect(certificates.status(issued.certificateId)).toBe('ACTIVE');
  });

  it('refuses a confirmation that came over the old certificate, and deactivates nothing', async () => {
    const { request: ask, confirm, certificates, original } = setup();
    const issued = accepted(await ask(DEVICE, request()));

    const reply = await confirm(DEVICE, confirmOf(issued), original.certificateId);

    expect(reply).toMatchObject({ verdict: 'rejected', code: 'wrong-certificate' });
    expect(certificates.status(original.certificateId)).toBe('ACTIVE');
  });

  it('accepts a repeated confirmation (the device lost the answer) without changing anything', async () => {
    const { request: ask, confirm, store } = setup();
    const issued = accepted(await ask(DEVICE, request()));
    await confirm(DEVICE, confirmOf(issued), issued.certificateId);
    const before = await store.getDevice(DEVICE);

    const again = await confirm(DEVICE, confirmOf(issued), issued.certificateId);

    expect(again.verdict).toBe('accepted');
    expect(await store.getDevice(DEVICE)).toEqual(before);
  });

  it('finishes deactivating after a failure part way, when the confirmation comes again', async () => {
    const { request: ask, confirm, certificates, original } = setup();
    const issued = accepted(await ask(DEVICE, request()));
    certificates.failNext = 'deactivate';

    await expect(confirm(DEVICE, confirmOf(issued), issued.certificateId)).rejects.toThrow(/injected/);
    expect(certificates.status(original.certificateId)).toBe('ACTIVE');
    await confirm(DEVICE, confirmOf(issued), issued.certificateId);

    expect(certificates.status(original.certificateId)).toBe('INACTIVE');
  });

  it('refuses a confirmation of a request the device item does not hold', async () => {
    const { confirm } = setup();

    const reply = await confirm(
      DEVICE,
      {
        schema: 'edgeops.certificate-rotation.confirm.v1',
        requestId: 'req-nothing',
        certificateId: 'a'.repeat(64),
      },
      'a'.repeat(64),
    );

    expect(reply).toMatchObject({ verdict: 'rejected', code: 'unknown-request' });
  });
});
