/**
 * Every route of the operator API, as the OpenAPI document (openapi.ts) describes it, built from
 * the very zod schemas the handlers parse with and the views are typed against: one source of
 * truth. A route added with `api.addRoute` in lib/ belongs here too; test/infra/openapi-drift.test.ts
 * fails, naming it, when the two differ. Append an entry; keep the order of the table by path.
 */
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import * as z from '../../contract/zod-mini';
import { CommandPath, CommandView, ListCommandsQuery, SendCommandBody } from '../device-commands/schemas';
import type { OperatorRole } from '../domain/operator-role';
import { AllowlistSerialPath, PutAllowlistRequest } from '../provisioning/schemas';
import { ArtifactView } from './artifact-view';
import { AuditPageView, ListAuditQuery } from './audit-schemas';
import {
  ConfigDriftQuery,
  ConfigLayerBody,
  DeviceConfigView,
  DeviceLayerWriteView,
  FleetConfigView,
  SharedLayerWriteView,
  SiteConfigDriftView,
  SiteConfigView,
} from './config-schemas';
import { AlertView, AnomalyView, DeviceView, TelemetryWindowView } from './device-view';
import { LifecycleActionRequest } from './lifecycle-schemas';
import {
  ArtifactPath,
  CompleteArtifactRequest,
  CreateArtifactRequest,
  CreateReleaseRequest,
  ListReleasesQuery,
  ReleasePath,
} from './release-schemas';
import { ReleaseView } from './release-view';
import { RolloutView } from './rollouts/rollout-view';
import { ListRolloutsQuery, RolloutDevicesQuery, RolloutPath, RolloutRequestBody } from './rollouts/schemas';
import {
  DevicePath,
  DeviceTelemetryQuery,
  FleetMetricsQuery,
  FleetSummaryQuery,
  ListAnomaliesQuery,
  ListDevicesQuery,
  RegisterDeviceRequest,
  SitePath,
} from './schemas';
import { TrustRootBody } from './trust/schemas';

/** Any zod schema, classic or mini. */
export type Schema = z.ZodMiniType;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteResponse {
  readonly description: string;
  /** The body; none for an empty answer. */
  readonly schema?: Schema;
  /** @default 'application/json' */
  readonly contentType?: string;
}

export interface OperatorRoute {
  readonly method: HttpMethod;
  /** As API Gateway names the resource: `/rollouts/{rolloutId}/pause`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  /** The least role that may call it (handler's `requireRole`); `public` needs no token. */
  readonly role: OperatorRole | 'public';
  /** The object schema of the path parameters (the handler's). */
  readonly pathParams?: Schema;
  /** The object schema of the query string (the handler's). */
  readonly query?: Schema;
  /** The request body (the handler's); `z.optional(...)` makes it optional. */
  readonly body?: Schema;
  /** Successful answers by status. */
  readonly responses: Readonly<Record<number, RouteResponse>>;
  /** Error answers the route gives besides 401, 403 and 500, which every route but public ones gives. */
  readonly errors?: readonly number[];
  readonly tags: readonly string[];
}

/** The body of every error answer (http.ts errorResponse). */
export const ErrorBody = z.object({
  message: z.string(),
  /** For 400: each offending field and what was wrong with it. */
  errors: z.optional(z.array(z.object({ field: z.string(), message: z.string() }))),
});

const page = <T extends Schema>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.nullable(z.string()) });

/** A JSON object this document does not detail (marked so in the document). */
const looseObject = (description: string) => z.looseObject({}).register(z.globalRegistry, { description });

const BandwidthPolicyAnswer = z.object({
  bandwidthPolicy: z.nullable(BandwidthPolicy),
});

export const OPERATOR_ROUTES: readonly OperatorRoute[] = [
  {
    method: 'GET',
    path: '/openapi.json',
    summary: 'This document',
    role: 'public',
    responses: {
      200: { description: 'The OpenAPI 3.1 document', schema: looseObject('OpenAPI 3.1 document') },
    },
    tags: ['meta'],
  },
  {
    method: 'GET',
    path: '/audit',
    summary: 'The audit trail of operator actions, newest first',
    description:
      'Every request that changes state (all but GET), refused ones included: who, when, what, the outcome and the request id. Each request reads a bounded number of entries, so a filtered page may be short and still carry nextCursor: send the same query with it until it is null.',
    role: 'viewer',
    query: ListAuditQuery,
    responses: { 200: { description: 'One page of entries', schema: AuditPageView } },
    errors: [400],
    tags: ['audit'],
  },
  {
    method: 'GET',
    path: '/config/fleet',
    summary: 'The fleet configuration layer (the lowest: sites and devices override it key by key)',
    role: 'viewer',
    responses: { 200: { description: 'The layer', schema: FleetConfigView } },
    tags: ['configuration'],
  },
  {
    method: 'PUT',
    path: '/config/fleet',
    summary: 'Replace the fleet configuration layer',
    description:
      'As PUT /sites/{site}/config, for every registered device: 202, then a fan-out one page per message.',
    role: 'operator',
    body: ConfigLayerBody,
    responses: {
      202: { description: 'The layer, stored; the fan-out is queued', schema: SharedLayerWriteView },
    },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'GET',
    path: '/config/keys',
    summary: 'Every configuration key and the JSON Schema its values must meet',
    role: 'viewer',
    responses: {
      200: {
        description: 'Key → JSON Schema',
        schema: z.object({ keys: z.record(z.string(), z.unknown()) }),
      },
    },
    tags: ['configuration'],
  },
  {
    method: 'GET',
    path: '/devices',
    summary: 'List devices matching every filter given',
    role: 'viewer',
    query: ListDevicesQuery,
    responses: { 200: { description: 'One page of devices', schema: page(DeviceView) } },
    errors: [400],
    tags: ['devices'],
  },
  {
    method: 'POST',
    path: '/devices',
    summary: 'Register a device: its thing, certificate and how to connect',
    role: 'operator',
    body: RegisterDeviceRequest,
    responses: {
      201: {
        description:
          'The device, its certificate (and private key when AWS IoT made it), and where to connect',
        schema: z.looseObject({
          device: DeviceView,
          credentials: z.object({
            certificateId: z.string(),
            certificatePem: z.string(),
            privateKey: z.optional(z.string()),
          }),
          mqtt: looseObject('host, port, endpoint and clientId'),
          caCertificatePem: z.string(),
          trustRoot: z.optional(looseObject('The newest TUF root metadata')),
        }),
      },
    },
    errors: [400, 409],
    tags: ['devices'],
  },
  {
    method: 'GET',
    path: '/devices/{deviceId}',
    summary: 'One device',
    role: 'viewer',
    pathParams: DevicePath,
    responses: { 200: { description: 'The device', schema: DeviceView } },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'PUT',
    path: '/devices/{deviceId}/bandwidth-policy',
    summary: "Set the device's own bandwidth policy",
    role: 'operator',
    pathParams: DevicePath,
    body: BandwidthPolicy,
    responses: {
      200: {
        description: 'The policy and the one in effect',
        schema: z.object({
          deviceId: z.string(),
          ...BandwidthPolicyAnswer.shape,
          effective: looseObject('source and bandwidthPolicy'),
        }),
      },
    },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'DELETE',
    path: '/devices/{deviceId}/bandwidth-policy',
    summary: "Remove the device's own bandwidth policy (its site's applies)",
    role: 'operator',
    pathParams: DevicePath,
    responses: {
      200: {
        description: 'The policy in effect now',
        schema: z.object({
          deviceId: z.string(),
          ...BandwidthPolicyAnswer.shape,
          effective: looseObject('source and bandwidthPolicy'),
        }),
      },
    },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'GET',
    path: '/devices/{deviceId}/config',
    summary: "A device's configuration: its layers, the merge, what it reported it applied, and the drift",
    role: 'viewer',
    pathParams: DevicePath,
    responses: { 200: { description: 'The configuration', schema: DeviceConfigView } },
    errors: [400, 404],
    tags: ['configuration'],
  },
  {
    method: 'PUT',
    path: '/devices/{deviceId}/config',
    summary: "Replace a device's own configuration layer and deliver the merge to its config shadow",
    role: 'operator',
    pathParams: DevicePath,
    body: ConfigLayerBody,
    responses: {
      200: { description: 'The layer and the merged configuration delivered', schema: DeviceLayerWriteView },
    },
    errors: [400, 404],
    tags: ['configuration'],
  },
  {
    method: 'DELETE',
    path: '/devices/{deviceId}/config',
    summary: "Clear a device's own configuration layer (its site's and the fleet's apply)",
    role: 'operator',
    pathParams: DevicePath,
    responses: { 200: { description: 'The merged configuration delivered', schema: DeviceLayerWriteView } },
    errors: [400, 404],
    tags: ['configuration'],
  },
  {
    method: 'POST',
    path: '/devices/{deviceId}/commands',
    summary: 'Send a remote command (reboot, upload-logs, diagnostics, inventory) to the device',
    description:
      'One AWS IoT job for the one device. A device offline now runs it when it returns, unless it expires first (status EXPIRED). The command record keeps who sent it, when, its parameters, its result and the request id.',
    role: 'operator',
    pathParams: DevicePath,
    body: SendCommandBody,
    responses: { 201: { description: 'The command, QUEUED', schema: CommandView } },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'GET',
    path: '/devices/{deviceId}/commands',
    summary: "The device's commands, newest first",
    role: 'viewer',
    pathParams: DevicePath,
    query: ListCommandsQuery,
    responses: { 200: { description: 'One page of commands', schema: page(CommandView) } },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'GET',
    path: '/devices/{deviceId}/commands/{commandId}',
    summary: 'One command: status as AWS IoT has it now, result, audit, and a log download URL',
    role: 'viewer',
    pathParams: CommandPath,
    responses: { 200: { description: 'The command', schema: CommandView } },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'POST',
    path: '/devices/{deviceId}/quarantine',
    summary:
      'Quarantine a device: no rollouts, and an IoT policy for telemetry, alerts, jobs and commands only',
    description:
      'Swaps the quarantine IoT policy in for the device policy on its certificates and cancels its queued and in-progress rollout job executions (they count as failed in their wave). Idempotent: a quarantined device keeps its first reason. 409 for a retired device.',
    role: 'operator',
    pathParams: DevicePath,
    body: LifecycleActionRequest,
    responses: {
      200: {
        description: 'The device, and the rollout jobs canceled for it',
        schema: z.looseObject({ ...DeviceView.shape, canceledJobs: z.array(z.string()) }),
      },
    },
    errors: [400, 404, 409],
    tags: ['devices'],
  },
  {
    method: 'POST',
    path: '/devices/{deviceId}/release',
    summary: 'Release a quarantined device: the device policy again, and rollouts take it',
    role: 'operator',
    pathParams: DevicePath,
    body: LifecycleActionRequest,
    responses: { 200: { description: 'The device', schema: DeviceView } },
    errors: [400, 404, 409],
    tags: ['devices'],
  },
  {
    method: 'POST',
    path: '/devices/{deviceId}/retire',
    summary: 'Retire a device: certificates revoked, groups left, jobs canceled, history kept',
    description:
      'Marks the device retired (its events are dropped from then on, rollouts skip it), revokes every certificate of its thing (UpdateCertificate REVOKED) and detaches their policies, removes the thing from its thing groups and cancels its queued and in-progress job executions. Idempotent: again, it finishes what a failed run left and keeps the first reason.',
    role: 'admin',
    pathParams: DevicePath,
    body: LifecycleActionRequest,
    responses: {
      200: {
        description: 'The retired device and what was undone',
        schema: z.looseObject({
          ...DeviceView.shape,
          revokedCertificates: z.array(z.string()),
          leftThingGroups: z.array(z.string()),
          canceledJobs: z.array(z.string()),
        }),
      },
    },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'GET',
    path: '/devices/{deviceId}/telemetry',
    summary: "The device's latest telemetry windows and alerts, newest first",
    role: 'viewer',
    pathParams: DevicePath,
    query: DeviceTelemetryQuery,
    responses: {
      200: {
        description: 'Windows and alerts',
        schema: z.object({
          deviceId: z.string(),
          windows: z.array(TelemetryWindowView),
          alerts: z.array(AlertView),
        }),
      },
    },
    errors: [400, 404],
    tags: ['devices'],
  },
  {
    method: 'PUT',
    path: '/sites/{site}/bandwidth-policy',
    summary: "Set a site's bandwidth policy: the bandwidthPolicy key of the site's configuration layer",
    description:
      'An alias of PUT /sites/{site}/config for the one key (the layer keeps its other keys). The fan-out delivers it to the devices of the site without their own.',
    role: 'operator',
    pathParams: SitePath,
    body: BandwidthPolicy,
    responses: {
      202: { description: 'The layer, stored; the fan-out is queued', schema: SharedLayerWriteView },
    },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'DELETE',
    path: '/sites/{site}/bandwidth-policy',
    summary: "Remove a site's bandwidth policy (the bandwidthPolicy key of its layer)",
    role: 'operator',
    pathParams: SitePath,
    responses: {
      202: { description: 'The layer, stored; the fan-out is queued', schema: SharedLayerWriteView },
    },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'GET',
    path: '/sites/{site}/config',
    summary: "A site's configuration layer, the fleet layer under it, and their merge",
    role: 'viewer',
    pathParams: SitePath,
    responses: { 200: { description: 'The layers', schema: SiteConfigView } },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'PUT',
    path: '/sites/{site}/config',
    summary: "Replace a site's configuration layer",
    description:
      "Each key is checked with its JSON Schema (GET /config/keys); the layer and its merge with the fleet layer must fit a shadow (8 KB, 6 levels). Answers 202 once stored: the fan-out writes each device's config shadow, one page per message.",
    role: 'operator',
    pathParams: SitePath,
    body: ConfigLayerBody,
    responses: {
      202: { description: 'The layer, stored; the fan-out is queued', schema: SharedLayerWriteView },
    },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'DELETE',
    path: '/sites/{site}/config',
    summary: "Clear a site's configuration layer",
    role: 'operator',
    pathParams: SitePath,
    responses: {
      202: { description: 'The layer, cleared; the fan-out is queued', schema: SharedLayerWriteView },
    },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'GET',
    path: '/sites/{site}/config/drift',
    summary: "The site's devices whose applied configuration differs from the desired one",
    description:
      'One Query of a sparse index per page: the read does not grow with the site, only with the page.',
    role: 'viewer',
    pathParams: SitePath,
    query: ConfigDriftQuery,
    responses: { 200: { description: 'One page of drifting devices', schema: SiteConfigDriftView } },
    errors: [400],
    tags: ['configuration'],
  },
  {
    method: 'GET',
    path: '/fleet/summary',
    summary: 'Cohort statistics, grouped',
    role: 'viewer',
    query: FleetSummaryQuery,
    responses: {
      200: { description: 'The groups and their counts', schema: looseObject('groups of cohort statistics') },
    },
    errors: [400],
    tags: ['fleet'],
  },
  {
    method: 'GET',
    path: '/fleet/metrics',
    summary: 'Cohort statistics in the Prometheus text format',
    role: 'viewer',
    query: FleetMetricsQuery,
    responses: {
      200: {
        description: 'Prometheus exposition (0.0.4)',
        schema: z.string(),
        contentType: 'text/plain; version=0.0.4',
      },
    },
    errors: [400],
    tags: ['fleet'],
  },
  {
    method: 'GET',
    path: '/fleet/anomalies',
    summary: 'Devices flagged as unlike their cohort',
    role: 'viewer',
    query: ListAnomaliesQuery,
    responses: {
      200: {
        description: 'One page of flagged devices',
        schema: page(z.looseObject({ deviceId: z.string(), anomaly: z.optional(AnomalyView) })),
      },
    },
    errors: [400],
    tags: ['fleet'],
  },
  {
    method: 'POST',
    path: '/artifacts',
    summary: 'Record an artifact and get where to upload it (presigned URLs)',
    role: 'operator',
    body: CreateArtifactRequest,
    responses: {
      201: {
        description: 'The artifact and its upload instructions',
        schema: z.object({
          artifact: ArtifactView,
          upload: looseObject('single PUT URL or multipart part URLs'),
        }),
      },
    },
    errors: [400],
    tags: ['releases'],
  },
  {
    method: 'GET',
    path: '/artifacts/{artifactId}',
    summary: 'One artifact',
    role: 'viewer',
    pathParams: ArtifactPath,
    responses: { 200: { description: 'The artifact', schema: ArtifactView } },
    errors: [400, 404],
    tags: ['releases'],
  },
  {
    method: 'POST',
    path: '/artifacts/{artifactId}/complete',
    summary: 'Finish the upload; the backend then measures (seals) the artifact',
    role: 'operator',
    pathParams: ArtifactPath,
    body: CompleteArtifactRequest,
    responses: {
      200: { description: 'Sealed before; nothing changed', schema: ArtifactView },
      202: { description: 'Sealing: poll GET /artifacts/{artifactId}', schema: ArtifactView },
    },
    errors: [400, 404, 409],
    tags: ['releases'],
  },
  {
    method: 'POST',
    path: '/releases',
    summary: 'Create a release from ready artifacts',
    role: 'operator',
    body: CreateReleaseRequest,
    responses: { 201: { description: 'The release', schema: ReleaseView } },
    errors: [400, 404, 409, 422],
    tags: ['releases'],
  },
  {
    method: 'GET',
    path: '/releases',
    summary: 'Releases, newest first',
    role: 'viewer',
    query: ListReleasesQuery,
    responses: { 200: { description: 'One page of releases', schema: page(ReleaseView) } },
    errors: [400],
    tags: ['releases'],
  },
  {
    method: 'GET',
    path: '/releases/{releaseId}',
    summary: 'One release',
    role: 'viewer',
    pathParams: ReleasePath,
    responses: { 200: { description: 'The release', schema: ReleaseView } },
    errors: [400, 404],
    tags: ['releases'],
  },
  {
    method: 'POST',
    path: '/rollouts/preview',
    summary: 'Who would land in which wave; starts and writes nothing',
    role: 'viewer',
    body: RolloutRequestBody,
    responses: {
      200: { description: 'The plan', schema: looseObject('releaseId, version, waves, excluded, strata') },
    },
    errors: [400, 404, 422],
    tags: ['rollouts'],
  },
  {
    method: 'POST',
    path: '/rollouts',
    summary: 'Start a rollout',
    role: 'operator',
    body: RolloutRequestBody,
    responses: {
      201: {
        description: 'The rollout and the devices left out',
        schema: z.object({ rollout: RolloutView, excluded: z.unknown() }),
      },
    },
    errors: [400, 404, 409, 422],
    tags: ['rollouts'],
  },
  {
    method: 'GET',
    path: '/rollouts',
    summary: 'Rollouts, newest first',
    role: 'viewer',
    query: ListRolloutsQuery,
    responses: { 200: { description: 'One page of rollouts', schema: page(RolloutView) } },
    errors: [400],
    tags: ['rollouts'],
  },
  {
    method: 'GET',
    path: '/rollouts/{rolloutId}',
    summary: 'One rollout, with a funnel and bytes per wave and the halt reason',
    role: 'viewer',
    pathParams: RolloutPath,
    responses: { 200: { description: 'The rollout', schema: RolloutView } },
    errors: [400, 404],
    tags: ['rollouts'],
  },
  {
    method: 'GET',
    path: '/rollouts/{rolloutId}/devices',
    summary: "The rollout's devices by wave and stage",
    role: 'viewer',
    pathParams: RolloutPath,
    query: RolloutDevicesQuery,
    responses: {
      200: {
        description: 'One page of devices',
        schema: page(looseObject('deviceId, wave, stage and more')),
      },
    },
    errors: [400, 404],
    tags: ['rollouts'],
  },
  ...(['pause', 'resume', 'approve', 'abort'] as const).map(
    (action): OperatorRoute => ({
      method: 'POST',
      path: `/rollouts/{rolloutId}/${action}`,
      summary: `${action[0]?.toUpperCase()}${action.slice(1)} a rollout`,
      role: 'operator',
      pathParams: RolloutPath,
      responses: { 200: { description: 'The rollout', schema: RolloutView } },
      errors: [400, 404, 409],
      tags: ['rollouts'],
    }),
  ),
  {
    method: 'POST',
    path: '/rollouts/{rolloutId}/rollback',
    summary: 'Send the devices a finished rollout updated back to their previous releases',
    role: 'operator',
    pathParams: RolloutPath,
    responses: {
      202: {
        description: 'The rollback rollouts started, and the devices skipped',
        schema: z.object({ rollouts: z.array(RolloutView), skipped: z.unknown() }),
      },
    },
    errors: [400, 404, 409],
    tags: ['rollouts'],
  },
  {
    method: 'GET',
    path: '/trust/root',
    summary: 'The newest TUF root metadata',
    role: 'viewer',
    responses: {
      200: { description: 'Root metadata (public keys and signatures)', schema: looseObject('TUF root') },
    },
    errors: [404],
    tags: ['trust'],
  },
  {
    method: 'PUT',
    path: '/trust/root',
    summary: 'Publish a new root the operators signed offline',
    role: 'admin',
    body: TrustRootBody,
    responses: { 200: { description: 'What was published', schema: looseObject('the published root') } },
    errors: [400],
    tags: ['trust'],
  },
  {
    method: 'GET',
    path: '/trust/online-keys',
    summary: "The stack's online public keys, for the root ceremony",
    role: 'admin',
    responses: { 200: { description: 'The keys', schema: z.object({ keys: z.unknown() }) } },
    tags: ['trust'],
  },
  {
    method: 'PUT',
    path: '/provisioning/allowlist',
    summary: 'Upload a batch of serials allowed to provision by claim',
    description:
      'At most 500 entries a request; upload a larger list in batches (repeating one is harmless). An entry a device has already claimed is left as it is and listed in alreadyClaimed.',
    role: 'operator',
    body: PutAllowlistRequest,
    responses: {
      200: {
        description: 'How many entries were stored, and the serials left as they were because claimed',
        schema: z.object({ stored: z.number(), alreadyClaimed: z.array(z.string()) }),
      },
    },
    errors: [400],
    tags: ['provisioning'],
  },
  {
    method: 'GET',
    path: '/provisioning/allowlist/{serial}',
    summary: 'One allowlist entry, and whether a device has claimed it',
    role: 'viewer',
    pathParams: AllowlistSerialPath,
    responses: {
      200: {
        description: 'The entry; claim names the certificate that provisioned it, and when',
        schema: z.object({
          serial: z.string(),
          site: z.string(),
          region: z.string(),
          hardwareType: z.string(),
          uploadedAt: z.string(),
          claimed: z.boolean(),
          claim: z.optional(z.object({ certificateId: z.string(), claimedAt: z.string() })),
        }),
      },
    },
    errors: [400, 404],
    tags: ['provisioning'],
  },
];
