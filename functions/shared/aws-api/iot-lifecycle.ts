/**
 * The AWS IoT control-plane calls of the device lifecycle flows (rotation, quarantine,
 * retirement) that registration and rollouts do not make: certificate status including REVOKED,
 * a thing's principals, groups and job executions. Its own module (and client) so that only the
 * lifecycle Lambdas carry it; the shape follows iot.ts (SDK operation and field names, errors as
 * AwsApiError named by the IoT error code).
 */
import { AwsService, dnsSuffix, encodePath } from './aws-service';

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED';

export interface JobExecutionSummaryForThing {
  readonly jobId?: string;
  readonly jobExecutionSummary?: { readonly status?: string };
}

export class IotLifecycleApi {
  readonly #service = new AwsService({
    signingName: 'iot',
    endpointId: 'IOT',
    host: (region) => `iot.${region}.${dnsSuffix(region)}`,
  });

  updateCertificate(input: { certificateId: string; newStatus: CertificateStatus }): Promise<unknown> {
    return this.#json('PUT', encodePath('certificates', input.certificateId), {
      query: { newStatus: input.newStatus },
    });
  }

  listThingPrincipals(input: {
    thingName: string;
    nextToken?: string;
  }): Promise<{ principals?: string[]; nextToken?: string }> {
    return this.#json('GET', `${encodePath('things', input.thingName)}/principals`, {
      query: { nextToken: input.nextToken, maxResults: 50 },
    });
  }

  listThingGroupsForThing(input: {
    thingName: string;
    nextToken?: string;
  }): Promise<{ thingGroups?: { groupName?: string }[]; nextToken?: string }> {
    return this.#json('GET', `${encodePath('things', input.thingName)}/thing-groups`, {
      query: { nextToken: input.nextToken, maxResults: 25 },
    });
  }

  removeThingFromThingGroup(input: { thingGroupName: string; thingName: string }): Promise<unknown> {
    return this.#json('PUT', '/thing-groups/removeThingFromThingGroup', { body: input });
  }

  listJobExecutionsForThing(input: {
    thingName: string;
    status: 'QUEUED' | 'IN_PROGRESS';
    nextToken?: string;
  }): Promise<{ executionSummaries?: JobExecutionSummaryForThing[]; nextToken?: string }> {
    return this.#json('GET', `${encodePath('things', input.thingName)}/jobs`, {
      query: { status: input.status, nextToken: input.nextToken, maxResults: 100 },
    });
  }

  /** `force` is needed for an IN_PROGRESS execution. */
  cancelJobExecution(input: { thingName: string; jobId: string; force: boolean }): Promise<unknown> {
    return this.#json('PUT', `${encodePath('things', input.thingName, 'jobs', input.jobId)}/cancel`, {
      query: { force: input.force },
      body: {},
    });
  }

  #json<T>(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    options: { query?: Record<string, string | number | boolean | undefined>; body?: object } = {},
  ): Promise<T> {
    const { body, query } = options;
    return this.#service.sendJson<T>({
      method,
      path,
      ...(query ? { query } : {}),
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  }
}
