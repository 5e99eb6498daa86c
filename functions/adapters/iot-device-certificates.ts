import { X509Certificate } from 'node:crypto';
import { ValidationError } from '../domain/errors';
import type {
  DeviceCertificates,
  DevicePolicyKind,
  IssuedCertificate,
  ThingCertificate,
} from '../ports/device-certificates';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { IotApi } from '../shared/aws-api/iot';
import type { IotLifecycleApi } from '../shared/aws-api/iot-lifecycle';

/**
 * DeviceCertificates on AWS IoT Core. The thing's principals are its certificates; the two IoT
 * policies are the fleet's device policy and the quarantine policy (lib/device-lifecycle.ts).
 * Every call that finds its target already gone (ResourceNotFoundException) counts as done, so a
 * flow run again after a failure finishes instead of failing on what the first run did.
 */
export class IotDeviceCertificates implements DeviceCertificates {
  constructor(
    private readonly iot: IotApi,
    private readonly lifecycle: IotLifecycleApi,
    private readonly policies: Readonly<Record<DevicePolicyKind, string>>,
  ) {}

  async issue(deviceId: string, csr: string, policy: DevicePolicyKind): Promise<IssuedCertificate> {
    let cert: Awaited<ReturnType<IotApi['createCertificateFromCsr']>>;
    try {
      cert = await this.iot.createCertificateFromCsr({ certificateSigningRequest: csr, setAsActive: true });
    } catch (error) {
      if (!isAwsApiError(error, 'InvalidRequestException')) throw error;
      const message = `refused by AWS IoT (${error.message})`;
      throw new ValidationError(`csr: ${message}`, [{ field: 'csr', message }]);
    }
    const { certificateId, certificateArn, certificatePem } = cert;
    if (!certificateId || !certificateArn || !certificatePem)
      throw new Error('AWS IoT returned an incomplete certificate');
    const issued = { certificateId, certificateArn };
    try {
      await this.iot.attachPolicy({ policyName: this.policies[policy], target: certificateArn });
      await this.iot.attachThingPrincipal({ thingName: deviceId, principal: certificateArn });
    } catch (error) {
      await this.deactivate(deviceId, issued);
      throw error;
    }
    return {
      ...issued,
      certificatePem,
      notAfter: new Date(new X509Certificate(certificatePem).validTo).toISOString(),
    };
  }

  async listCertificates(deviceId: string): Promise<readonly ThingCertificate[]> {
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ignoreNotFound(() =>
        this.lifecycle.listThingPrincipals({ thingName: deviceId, nextToken }),
      );
      arns.push(...(page?.principals ?? []));
      nextToken = page?.nextToken;
    } while (nextToken);
    // A thing's principals may also be Cognito identities or IAM users: only certificates count.
    return arns
      .filter((arn) => /:cert\/[0-9a-f]{64}$/.test(arn))
      .map((certificateArn) => ({ certificateArn, certificateId: certificateArn.slice(-64) }));
  }

  async deactivate(deviceId: string, certificate: ThingCertificate): Promise<void> {
    const { certificateId, certificateArn } = certificate;
    await ignoreNotFound(() => this.lifecycle.updateCertificate({ certificateId, newStatus: 'INACTIVE' }));
    await this.#detachPolicies(certificateArn);
    await ignoreNotFound(() =>
      this.iot.detachThingPrincipal({ thingName: deviceId, principal: certificateArn }),
    );
  }

  async revoke(certificate: ThingCertificate): Promise<void> {
    const { certificateId, certificateArn } = certificate;
    await ignoreNotFound(() => this.lifecycle.updateCertificate({ certificateId, newStatus: 'REVOKED' }));
    await this.#detachPolicies(certificateArn);
  }

  async swapPolicy(certificate: ThingCertificate, to: DevicePolicyKind): Promise<void> {
    const other: DevicePolicyKind = to === 'device' ? 'quarantine' : 'device';
    await this.iot.attachPolicy({ policyName: this.policies[to], target: certificate.certificateArn });
    await ignoreNotFound(() =>
      this.iot.detachPolicy({ policyName: this.policies[other], target: certificate.certificateArn }),
    );
  }

  async leaveThingGroups(deviceId: string): Promise<readonly string[]> {
    const groups: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await ignoreNotFound(() =>
        this.lifecycle.listThingGroupsForThing({ thingName: deviceId, nextToken }),
      );
      groups.push(...(page?.thingGroups ?? []).flatMap((g) => (g.groupName ? [g.groupName] : [])));
      nextToken = page?.nextToken;
    } while (nextToken);
    for (const thingGroupName of groups)
      await ignoreNotFound(() =>
        this.lifecycle.removeThingFromThingGroup({ thingGroupName, thingName: deviceId }),
      );
    return groups;
  }

  async cancelJobExecutions(deviceId: string, which: (jobId: string) => boolean): Promise<readonly string[]> {
    const canceled: string[] = [];
    for (const status of ['QUEUED', 'IN_PROGRESS'] as const) {
      const jobIds: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await ignoreNotFound(() =>
          this.lifecycle.listJobExecutionsForThing({ thingName: deviceId, status, nextToken }),
        );
        jobIds.push(
          ...(page?.executionSummaries ?? []).flatMap((e) => (e.jobId && which(e.jobId) ? [e.jobId] : [])),
        );
        nextToken = page?.nextToken;
      } while (nextToken);
      for (const jobId of jobIds) {
        try {
          await this.lifecycle.cancelJobExecution({
            thingName: deviceId,
            jobId,
            force: status === 'IN_PROGRESS',
          });
          canceled.push(jobId);
        } catch (error) {
          // Finished or canceled meanwhile: nothing left to cancel.
          if (!isAwsApiError(error, 'ResourceNotFoundException', 'InvalidStateTransitionException'))
            throw error;
        }
      }
    }
    return canceled;
  }

  async #detachPolicies(certificateArn: string): Promise<void> {
    for (const policyName of Object.values(this.policies))
      await ignoreNotFound(() => this.iot.detachPolicy({ policyName, target: certificateArn }));
  }
}

async function ignoreNotFound<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isAwsApiError(error, 'ResourceNotFoundException')) return undefined;
    throw error;
  }
}
