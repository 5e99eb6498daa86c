/**
 * In-memory DeviceLifecycleStore, DeviceCertificates and RotationReplies for unit tests, with the
 * semantics of the DynamoDB and AWS IoT adapters: conditional writes, idempotent certificate
 * operations, and a record of every call so tests can see what a flow did.
 */
import { X509Certificate } from 'node:crypto';
import type { RotationReplyV1 } from '../../contract/certificate-rotation';
import type { Device } from '../domain/device';
import type { CertificateRotation, Quarantine, Retirement } from '../domain/device-lifecycle';
import { ValidationError } from '../domain/errors';
import type {
  DeviceCertificates,
  DevicePolicyKind,
  IssuedCertificate,
  ThingCertificate,
} from '../ports/device-certificates';
import type { DeviceLifecycleStore } from '../ports/device-lifecycle-store';
import type { RotationReplies } from '../ports/rotation-replies';

export class InMemoryDeviceLifecycleStore implements DeviceLifecycleStore {
  readonly devices = new Map<string, Device>();

  put(device: Device): void {
    this.devices.set(device.deviceId, device);
  }

  async getDevice(deviceId: string): Promise<Device | undefined> {
    return this.devices.get(deviceId);
  }

  async recordRotation(deviceId: string, rotation: CertificateRotation, expected: string | undefined) {
    const device = this.devices.get(deviceId);
    if (device?.status !== 'registered' || device.rotation?.requestId !== expected) return false;
    this.devices.set(deviceId, { ...device, rotation });
    return true;
  }

  async confirmRotation(deviceId: string, requestId: string, confirmedAt: string) {
    const device = this.devices.get(deviceId);
    const rotation = device?.rotation;
    if (device?.status !== 'registered' || rotation?.requestId !== requestId || rotation.state !== 'issued')
      return false;
    const { certificatePem: _pem, ...kept } = rotation;
    this.devices.set(deviceId, {
      ...device,
      certificateId: rotation.certificateId,
      certificateNotAfter: rotation.notAfter,
      rotation: { ...kept, state: 'confirmed', confirmedAt },
    });
    return true;
  }

  async setQuarantine(deviceId: string, quarantine: Quarantine | undefined) {
    const device = this.devices.get(deviceId);
    if (device?.status !== 'registered') return false;
    const { quarantine: _old, ...rest } = device;
    this.devices.set(deviceId, quarantine ? { ...rest, quarantine } : rest);
    return true;
  }

  async markRetired(deviceId: string, retirement: Retirement) {
    const device = this.devices.get(deviceId);
    if (!device) return false;
    if (device.status === 'retired') return true;
    this.devices.set(deviceId, { ...device, status: 'retired', retirement });
    return true;
  }
}

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED';

interface CertificateRecord extends ThingCertificate {
  status: CertificateStatus;
  policies: Set<DevicePolicyKind>;
  thing: string | undefined;
  readonly pem: string;
}

/** A certificate authority and registry in memory; `refuseCsr` makes the next issue fail like AWS IoT. */
export class InMemoryDeviceCertificates implements DeviceCertificates {
  readonly certificates = new Map<string, CertificateRecord>();
  readonly groups = new Map<string, Set<string>>();
  /** Job executions per thing: job id → status. */
  readonly executions = new Map<string, Map<string, 'QUEUED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'CANCELED'>>();
  readonly calls: string[] = [];
  refuseCsr = false;
  /** Fails the named operation once (then clears), for partial-failure tests. */
  failNext: string | undefined;
  #serial = 0;

  /**
   * @param sign signs a CSR into a PEM certificate, as a CA would (tests that need the device's
   *   key in the certificate); without it `issue` makes a placeholder PEM.
   */
  constructor(
    private readonly validityDays = 365,
    private readonly sign?: (csr: string) => string,
  ) {}

  /** A certificate as registration made it: active, device policy, attached to the thing. */
  seed(deviceId: string, policy: DevicePolicyKind = 'device', certificateId?: string): ThingCertificate {
    certificateId ??= (++this.#serial).toString(16).padStart(64, '0');
    const record: CertificateRecord = {
      certificateId,
      certificateArn: `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`,
      status: 'ACTIVE',
      policies: new Set([policy]),
      thing: deviceId,
      pem: `PEM ${certificateId}`,
    };
    this.certificates.set(certificateId, record);
    return { certificateId, certificateArn: record.certificateArn };
  }

  status(certificateId: string): CertificateStatus | undefined {
    return this.certificates.get(certificateId)?.status;
  }

  policiesOf(certificateId: string): DevicePolicyKind[] {
    return [...(this.certificates.get(certificateId)?.policies ?? [])].sort();
  }

  #maybeFail(operation: string) {
    this.calls.push(operation);
    if (this.failNext === operation) {
      this.failNext = undefined;
      throw new Error(`${operation} failed (injected)`);
    }
  }

  async issue(deviceId: string, csr: string, policy: DevicePolicyKind): Promise<IssuedCertificate> {
    this.#maybeFail('issue');
    if (this.refuseCsr)
      throw new ValidationError('Invalid request body: csr: refused by AWS IoT', [
        { field: 'csr', message: 'refused' },
      ]);
    if (this.sign) {
      const certificatePem = this.sign(csr);
      const certificate = new X509Certificate(certificatePem);
      const certificateId = certificate.fingerprint256.replaceAll(':', '').toLowerCase();
      const certificateArn = `arn:aws:iot:eu-west-1:123456789012:cert/${certificateId}`;
      this.certificates.set(certificateId, {
        certificateId,
        certificateArn,
        status: 'ACTIVE',
        policies: new Set([policy]),
        thing: deviceId,
        pem: certificatePem,
      });
      return {
        certificateId,
        certificateArn,
        certificatePem,
        notAfter: new Date(certificate.validTo).toISOString(),
      };
    }
    const seeded = this.seed(deviceId, policy);
    return {
      ...seeded,
      certificatePem: `PEM ${seeded.certificateId}`,
      notAfter: new Date(Date.UTC(2030, 0, 1) + this.validityDays * 86_400_000).toISOString(),
    };
  }

  async listCertificates(deviceId: string): Promise<readonly ThingCertificate[]> {
    this.#maybeFail('listCertificates');
    return [...this.certificates.values()]
      .filter((c) => c.thing === deviceId)
      .map(({ certificateId, certificateArn }) => ({ certificateId, certificateArn }));
  }

  async deactivate(_deviceId: string, certificate: ThingCertificate): Promise<void> {
    this.#maybeFail('deactivate');
    const record = this.certificates.get(certificate.certificateId);
    if (!record) return;
    if (record.status === 'ACTIVE') record.status = 'INACTIVE';
    record.thing = undefined;
    record.policies.clear();
  }

  async revoke(certificate: ThingCertificate): Promise<void> {
    this.#maybeFail('revoke');
    const record = this.certificates.get(certificate.certificateId);
    if (!record) return;
    record.status = 'REVOKED';
    record.policies.clear();
  }

  async swapPolicy(certificate: ThingCertificate, to: DevicePolicyKind): Promise<void> {
    this.#maybeFail('swapPolicy');
    const record = this.certificates.get(certificate.certificateId);
    if (!record) return;
    record.policies.add(to);
    record.policies.delete(to === 'device' ? 'quarantine' : 'device');
  }

  async leaveThingGroups(deviceId: string): Promise<readonly string[]> {
    this.#maybeFail('leaveThingGroups');
    const left: string[] = [];
    for (const [group, members] of this.groups) if (members.delete(deviceId)) left.push(group);
    return left;
  }

  async cancelJobExecutions(deviceId: string, which: (jobId: string) => boolean): Promise<readonly string[]> {
    this.#maybeFail('cancelJobExecutions');
    const canceled: string[] = [];
    for (const [jobId, status] of this.executions.get(deviceId) ?? []) {
      if ((status === 'QUEUED' || status === 'IN_PROGRESS') && which(jobId)) {
        this.executions.get(deviceId)?.set(jobId, 'CANCELED');
        canceled.push(jobId);
      }
    }
    return canceled;
  }
}

export class InMemoryRotationReplies implements RotationReplies {
  readonly sent: { deviceId: string; reply: RotationReplyV1 }[] = [];

  async send(deviceId: string, reply: RotationReplyV1): Promise<void> {
    this.sent.push({ deviceId, reply });
  }
}
