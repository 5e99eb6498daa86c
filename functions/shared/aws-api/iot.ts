/**
 * The AWS IoT control-plane calls EdgeOps Lambdas make (things, certificates, thing groups, jobs),
 * on AwsService (aws-service.ts says why not the SDK's IoT client). Each method is one operation of
 * the IoT API, named as in the SDK, with the SDK's input and output field names; errors are
 * AwsApiError named by the IoT error code (ResourceNotFoundException, ...).
 */
import { AwsService, dnsSuffix, encodePath } from './aws-service';

export interface IotCertificate {
  readonly certificateArn?: string;
  readonly certificateId?: string;
  readonly certificatePem?: string;
  readonly keyPair?: { readonly PublicKey?: string; readonly PrivateKey?: string };
}

export interface CreateJobInput {
  readonly jobId: string;
  readonly targets: readonly string[];
  readonly targetSelection: 'SNAPSHOT' | 'CONTINUOUS';
  readonly document: string;
  readonly description?: string;
  readonly presignedUrlConfig?: { readonly roleArn: string; readonly expiresInSec: number };
  readonly timeoutConfig?: { readonly inProgressTimeoutInMinutes: number };
  readonly jobExecutionsRetryConfig?: {
    readonly criteriaList: readonly { readonly failureType: string; readonly numberOfRetries: number }[];
  };
  readonly jobExecutionsRolloutConfig?: { readonly maximumPerMinute: number };
}

export class IotApi {
  readonly #service = new AwsService({
    signingName: 'iot',
    endpointId: 'IOT',
    host: (region) => `iot.${region}.${dnsSuffix(region)}`,
  });

  createThing(input: {
    thingName: string;
    attributePayload: { attributes: Record<string, string> };
  }): Promise<{ thingArn?: string }> {
    const { thingName, ...body } = input;
    return this.#json('POST', encodePath('things', thingName), { body });
  }

  deleteThing(input: { thingName: string }): Promise<unknown> {
    return this.#json('DELETE', encodePath('things', input.thingName));
  }

  createKeysAndCertificate(input: { setAsActive: boolean }): Promise<IotCertificate> {
    return this.#json('POST', '/keys-and-certificate', { query: { setAsActive: input.setAsActive } });
  }

  /** Signs the device's CSR; the key stays with whoever made the CSR. */
  createCertificateFromCsr(input: {
    certificateSigningRequest: string;
    setAsActive: boolean;
  }): Promise<Omit<IotCertificate, 'keyPair'>> {
    return this.#json('POST', '/certificates', {
      query: { setAsActive: input.setAsActive },
      body: { certificateSigningRequest: input.certificateSigningRequest },
    });
  }

  updateCertificate(input: { certificateId: string; newStatus: 'ACTIVE' | 'INACTIVE' }): Promise<unknown> {
    return this.#json('PUT', encodePath('certificates', input.certificateId), {
      query: { newStatus: input.newStatus },
    });
  }

  deleteCertificate(input: { certificateId: string; forceDelete: boolean }): Promise<unknown> {
    return this.#json('DELETE', encodePath('certificates', input.certificateId), {
      query: { forceDelete: input.forceDelete },
    });
  }

  attachPolicy(input: { policyName: string; target: string }): Promise<unknown> {
    return this.#json('PUT', encodePath('target-policies', input.policyName), {
      body: { target: input.target },
    });
  }

  detachPolicy(input: { policyName: string; target: string }): Promise<unknown> {
    return this.#json('POST', encodePath('target-policies', input.policyName), {
      body: { target: input.target },
    });
  }

  attachThingPrincipal(input: { thingName: string; principal: string }): Promise<unknown> {
    return this.#json('PUT', `${encodePath('things', input.thingName)}/principals`, {
      headers: { 'x-amzn-principal': input.principal },
    });
  }

  detachThingPrincipal(input: { thingName: string; principal: string }): Promise<unknown> {
    return this.#json('DELETE', `${encodePath('things', input.thingName)}/principals`, {
      headers: { 'x-amzn-principal': input.principal },
    });
  }

  describeEndpoint(input: { endpointType: string }): Promise<{ endpointAddress?: string }> {
    return this.#json('GET', '/endpoint', { query: { endpointType: input.endpointType } });
  }

  createThingGroup(input: { thingGroupName: string }): Promise<{ thingGroupArn?: string }> {
    return this.#json('POST', encodePath('thing-groups', input.thingGroupName), { body: {} });
  }

  deleteThingGroup(input: { thingGroupName: string }): Promise<unknown> {
    return this.#json('DELETE', encodePath('thing-groups', input.thingGroupName));
  }

  addThingToThingGroup(input: { thingGroupName: string; thingName: string }): Promise<unknown> {
    return this.#json('PUT', '/thing-groups/addThingToThingGroup', { body: input });
  }

  listThingsInThingGroup(input: {
    thingGroupName: string;
    recursive?: boolean;
    maxResults?: number;
    nextToken?: string;
  }): Promise<{ things?: string[]; nextToken?: string }> {
    const { thingGroupName, ...query } = input;
    return this.#json('GET', `${encodePath('thing-groups', thingGroupName)}/things`, { query });
  }

  createJob(input: CreateJobInput): Promise<{ jobArn?: string }> {
    const { jobId, ...body } = input;
    return this.#json('PUT', encodePath('jobs', jobId), { body });
  }

  cancelJob(input: {
    jobId: string;
    reasonCode?: string;
    comment?: string;
    force?: boolean;
  }): Promise<unknown> {
    const { jobId, force, ...body } = input;
    return this.#json('PUT', `${encodePath('jobs', jobId)}/cancel`, { query: { force }, body });
  }

  describeJob(input: { jobId: string }): Promise<{ job?: { jobId?: string; status?: string } }> {
    return this.#json('GET', encodePath('jobs', input.jobId));
  }

  #json<T>(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    options: {
      query?: Record<string, string | number | boolean | undefined>;
      headers?: Record<string, string>;
      body?: object;
    } = {},
  ): Promise<T> {
    const { body, ...rest } = options;
    return this.#service.sendJson<T>({
      method,
      path,
      ...rest,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { ...rest.headers, 'content-type': 'application/json' } }),
    });
  }
}
