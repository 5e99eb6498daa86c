/** A small typed client for the operator API, shared by the simulator, the CLI and the tests. */
import { backoffDelay, isRetryableStatus, type RetryPolicy, withDefaults } from './retry-policy';

export interface ApiResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

export interface DeviceView {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly site: string;
  readonly region: string;
  readonly registeredAt: string;
  readonly certificateId: string | null;
  readonly firmwareVersion: string | null;
  readonly lastSeenAt: string | null;
  readonly connection: {
    readonly state: 'connected' | 'disconnected' | 'unknown';
    readonly changedAt: string | null;
  };
  /** The health of the latest telemetry window; null until the device sends one. */
  readonly health?: HealthState | null;
  readonly healthAt?: string | null;
  /** Metric → the latest window's p95, mean, max and sum. */
  readonly metrics?: Readonly<
    Record<
      string,
      { readonly p95: number; readonly mean: number; readonly max: number; readonly sum: number }
    >
  > | null;
  /** Set while the fleet analysis flags the device as unlike its cohort. */
  readonly anomaly?: AnomalyView | null;
}

export type HealthState = 'healthy' | 'degraded' | 'unhealthy';

export interface AnomalyView {
  readonly metric: string;
  readonly score: number;
  readonly value: number | null;
  readonly cohortMedian: number | null;
  readonly since: string | null;
}

/** Filters of `GET /devices`; a page may be short (even empty) and still have a `nextCursor`. */
export interface DeviceListQuery {
  readonly site?: string;
  readonly region?: string;
  readonly hardwareType?: string;
  readonly version?: string;
  readonly connectionState?: 'connected' | 'disconnected' | 'unknown';
  readonly health?: HealthState | 'unknown';
  readonly anomalous?: true;
  readonly limit?: number;
  readonly cursor?: string;
}

export type FleetGroupBy = 'region' | 'site' | 'hardwareType' | 'version' | 'connectionState' | 'health';

/** `GET /fleet/summary` (functions/domain/fleet-summary.ts has the meaning of each field). */
export interface FleetSummaryView {
  readonly groupBy: readonly FleetGroupBy[];
  readonly analyzedAt: string | null;
  readonly cohorts: number;
  readonly pendingCohorts: number;
  readonly groups: readonly {
    readonly key: Readonly<Partial<Record<FleetGroupBy, string>>>;
    readonly cohorts: number;
    readonly pendingCohorts: number;
    readonly analyzedAt: string | null;
    readonly devices: number;
    readonly connected?: number;
    readonly health?: Readonly<Record<HealthState | 'unknown', number>>;
    readonly anomalous?: number;
    readonly metrics?: Readonly<Record<string, { readonly median: number; readonly p95: number }>>;
    readonly cohortMedians?: Readonly<
      Record<string, { readonly min: number; readonly max: number; readonly weightedMedian: number }>
    >;
  }[];
}

/** `GET /devices/{id}/telemetry`: newest first; times are ISO strings. */
export interface DeviceTelemetryView {
  readonly deviceId: string;
  readonly windows: readonly {
    readonly seq: number;
    readonly start: string;
    readonly seconds: number;
    readonly firmwareVersion: string;
    readonly health: HealthState;
    readonly metrics: Readonly<
      Record<string, Readonly<Record<'count' | 'min' | 'max' | 'mean' | 'p95' | 'sum', number>>>
    >;
    readonly partial: boolean;
    readonly dropped: number;
  }[];
  readonly alerts: readonly {
    readonly alertId: string;
    readonly kind: 'threshold' | 'event';
    readonly ruleId: string;
    readonly state: 'raised' | 'cleared';
    readonly severity: 'critical' | 'warning';
    readonly at: string;
    readonly receivedAt: string;
    readonly metric: string | null;
    readonly value: number | null;
    readonly message: string | null;
  }[];
}

/** An entry of `GET /fleet/anomalies`. */
export interface AnomalyEntryView {
  readonly deviceId: string;
  readonly metric: string;
  readonly score: number;
  readonly value: number;
  readonly cohortMedian: number;
  readonly cohort: string;
  readonly since: string;
}

/** The answer to `POST /devices` without a CSR: AWS IoT made the key pair, and this is its only copy. */
export interface Registration extends CsrRegistration {
  readonly credentials: CsrRegistration['credentials'] & { readonly privateKey: string };
}

/** The answer to `POST /devices` with a CSR: the certificate only; the key stayed with its maker. */
export interface CsrRegistration {
  readonly device: DeviceView;
  readonly credentials: { readonly certificateId: string; readonly certificatePem: string };
  /** Where the device connects with mutual TLS; `endpoint` is the host (older name), client id = thing name. */
  readonly mqtt: {
    readonly host: string;
    readonly port: number;
    readonly endpoint: string;
    readonly clientId: string;
  };
  /** The CA that signed the broker's certificate (Amazon Root CA 1 in AWS). */
  readonly caCertificatePem: string;
  /** The TUF root metadata the device trusts from now on; absent before the root ceremony. */
  readonly trustRoot?: unknown;
}

export interface DeviceRegistrationRequest {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly site: string;
  readonly region: string;
  /** PEM PKCS#10 made where the key is (device/identity/csr.ts); then no key comes back. */
  readonly csr?: string;
}

export type ArtifactKind = 'firmware' | 'app' | 'model' | 'config';

export interface ArtifactView {
  readonly artifactId: string;
  readonly kind: ArtifactKind;
  readonly hardwareType: string;
  readonly version: string;
  readonly name: string | null;
  readonly status: 'awaiting-upload' | 'sealing' | 'ready' | 'rejected';
  readonly declaredSize: number;
  /** Measured by the backend; null until the artifact is ready. */
  readonly size: number | null;
  readonly sha256: string | null;
  readonly rejectionReason: string | null;
  readonly createdAt: string;
  readonly sealedAt: string | null;
}

export type UploadInstructions =
  | { readonly type: 'single'; readonly method: 'PUT'; readonly url: string; readonly expiresAt: string }
  | {
      readonly type: 'multipart';
      readonly partSize: number;
      readonly expiresAt: string;
      readonly parts: readonly {
        readonly partNumber: number;
        readonly offset: number;
        readonly length: number;
        readonly url: string;
      }[];
    };

export interface CreatedArtifact {
  readonly artifact: ArtifactView;
  readonly upload: UploadInstructions;
}

export interface ReleasedArtifactView {
  readonly artifactId: string;
  readonly kind: ArtifactKind;
  readonly version: string;
  readonly name: string | null;
  readonly size: number;
  readonly sha256: string;
}

export interface DownloadLimitsView {
  readonly minBytesPerSecond?: number;
  readonly maxSeconds?: number;
}

export interface ReleaseView {
  readonly releaseId: string;
  readonly version: string;
  readonly notes: string | null;
  readonly createdAt: string;
  /** Hardware type → its components in install order. */
  readonly components: Readonly<
    Record<
      string,
      readonly {
        readonly name: string;
        readonly handler: string;
        readonly order: number;
        readonly settings: Readonly<Record<string, string>>;
        readonly artifact: ReleasedArtifactView;
      }[]
    >
  >;
  readonly downloadLimits: Readonly<Record<string, DownloadLimitsView>>;
  /** Hardware type → its one artifact; only on a single-image release (one `firmware` component). */
  readonly artifacts?: Readonly<Record<string, ReleasedArtifactView>>;
}

/** One component of a multi-component release, for `createRelease`; install order is list order. */
export interface ReleaseComponentSpec {
  readonly name: string;
  readonly handler: string;
  readonly settings?: Readonly<Record<string, string>>;
  /** Artifact ids, at most one per hardware type. */
  readonly artifacts: readonly string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`API answered ${status}: ${JSON.stringify(body)}`);
  }
}

/** Registration, with retries, ended without a device: names the device and every attempt. */
export class RegistrationFailedError extends ApiError {
  override readonly name = 'RegistrationFailedError';
  constructor(
    readonly deviceId: string,
    /** One entry per attempt: the status (and message) it got, `timeout` or `network error`. */
    readonly attempts: readonly string[],
    last: ApiResponse | undefined,
  ) {
    super(last?.status ?? 0, last?.body);
    const count = attempts.length;
    this.message =
      `Registering device ${deviceId} failed after ${count} attempt${count === 1 ? '' : 's'}; ` +
      `last: ${attempts.at(-1) ?? 'none'}${count > 1 ? ` (all: ${attempts.join(', ')})` : ''}`;
  }
}

/**
 * A retried registration found the device already there (409): an earlier attempt that seemed
 * to fail (a gateway or Lambda timeout) went through on the server, in part or in full. Its
 * answer is lost, and with it the device's private key: the API returns the key only in the
 * 201 answer and stores it nowhere, so it cannot be fetched again. The honest outcome is this
 * error, with what the registry now holds for the id; a simulator may register a replacement id,
 * a real factory line must decommission the id and start over.
 */
export class RegistrationLostError extends ApiError {
  override readonly name = 'RegistrationLostError';
  constructor(
    readonly deviceId: string,
    readonly attempts: readonly string[],
    /** The device as the registry shows it now, when the lookup worked. */
    readonly existing: DeviceView | undefined,
    conflict: ApiResponse,
  ) {
    super(409, conflict.body);
    const state = existing
      ? existing.certificateId
        ? `registered, with certificate ${existing.certificateId}`
        : 'half registered, with no certificate (that attempt was cut off)'
      : 'taken (the lookup failed)';
    this.message =
      `Device ${deviceId}: after ${attempts.join(', ')}, a retry found the id ${state}. An earlier attempt ` +
      'went through on the server but its answer was lost, and with it the private key, which the API ' +
      'returns only once: register the device under another id.';
  }
}

export interface RetryNotice {
  readonly deviceId: string;
  readonly attempt: number;
  /** What the attempt got: a status (and message), `timeout` or `network error`. */
  readonly outcome: string;
  readonly delayMs: number;
}

/** One line for a retried registration, for a console. */
export const describeRetry = (notice: RetryNotice) =>
  `${notice.deviceId}: registration attempt ${notice.attempt} got ${notice.outcome}; trying again in ${(notice.delayMs / 1000).toFixed(1)} s`;

export interface RegisterOptions {
  /** Retry 5xx, 429, timeouts and network errors with backoff. @default no retries */
  readonly retry?: RetryPolicy;
  readonly signal?: AbortSignal;
  /** Told of each failed attempt that will be tried again, and after how long. */
  readonly onRetry?: (notice: RetryNotice) => void;
}

const describeAnswer = (response: ApiResponse) => {
  const message = (response.body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string'
    ? `${response.status} ${message.slice(0, 120)}`
    : String(response.status);
};

export class OperatorApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  /** Sends a request and returns status and parsed body, whatever the status. */
  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown | string,
    init: { signal?: AbortSignal } = {},
  ): Promise<ApiResponse<T>> {
    const response = await fetch(new URL(path.replace(/^\//, ''), this.baseUrl), {
      method,
      ...(init.signal ? { signal: init.signal } : {}),
      headers: {
        ...(this.token ? { authorization: this.token } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: response.status, body: parsed as T };
  }

  /**
   * `POST /devices`. Without `retry`, one attempt, and any status but 201 is an ApiError. With
   * `retry`, 5xx, 429, timeouts and network errors are tried again with backoff; the end is a
   * RegistrationFailedError naming the device and each attempt, or a RegistrationLostError when
   * a retry meets 409 because an earlier attempt went through after all. A 409 on the first
   * attempt is a plain conflict (ApiError): the id was taken before. With `csr`, the answer
   * carries the certificate signed from it and no private key.
   */
  async registerDevice(
    profile: DeviceRegistrationRequest & { readonly csr: string },
    options?: RegisterOptions,
  ): Promise<CsrRegistration>;
  async registerDevice(
    profile: DeviceRegistrationRequest & { readonly csr?: undefined },
    options?: RegisterOptions,
  ): Promise<Registration>;
  async registerDevice(
    profile: DeviceRegistrationRequest,
    options: RegisterOptions = {},
  ): Promise<CsrRegistration> {
    if (!options.retry)
      return this.#expect<CsrRegistration>(201, await this.request('POST', 'devices', profile));
    const policy = withDefaults(options.retry);
    const { signal } = options;
    const attempts: string[] = [];
    let last: ApiResponse | undefined;
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(policy.attemptTimeoutMs);
      let response: ApiResponse | undefined;
      try {
        response = await this.request('POST', 'devices', profile, {
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (error) {
        signal?.throwIfAborted();
        attempts.push(
          timeout.aborted
            ? 'timeout'
            : `network error (${(error as Error).cause ?? (error as Error).message})`,
        );
      }
      if (response?.status === 201) return response.body as CsrRegistration;
      if (response) {
        if (response.status === 409 && attempts.length > 0)
          throw await this.#lostRegistration(profile.deviceId, attempts, response);
        attempts.push(describeAnswer(response));
        last = response;
        if (!isRetryableStatus(response.status))
          throw new RegistrationFailedError(profile.deviceId, attempts, response);
      }
      if (attempt < policy.maxAttempts) {
        const delayMs = backoffDelay(attempt, policy);
        options.onRetry?.({ deviceId: profile.deviceId, attempt, outcome: attempts.at(-1) ?? '', delayMs });
        await policy.sleep(delayMs, signal);
      }
    }
    throw new RegistrationFailedError(profile.deviceId, attempts, last);
  }

  async #lostRegistration(deviceId: string, attempts: readonly string[], conflict: ApiResponse) {
    const lookup = await this.request<DeviceView>(
      'GET',
      `devices/${encodeURIComponent(deviceId)}`,
      undefined,
      {
        signal: AbortSignal.timeout(30_000),
      },
    ).catch(() => undefined);
    return new RegistrationLostError(
      deviceId,
      attempts,
      lookup?.status === 200 ? lookup.body : undefined,
      conflict,
    );
  }

  async getDevice(deviceId: string): Promise<DeviceView> {
    return this.#expect<DeviceView>(
      200,
      await this.request('GET', `devices/${encodeURIComponent(deviceId)}`),
    );
  }

  async listDevices(query: DeviceListQuery = {}) {
    return this.#expect<{ items: DeviceView[]; nextCursor: string | null }>(
      200,
      await this.request('GET', withQuery('devices', query)),
    );
  }

  /** `GET /fleet/summary`: the cohort statistics grouped by `groupBy` (none: fleet totals). */
  async fleetSummary(groupBy: readonly FleetGroupBy[] = []): Promise<FleetSummaryView> {
    const path = withQuery('fleet/summary', { groupBy: groupBy.length > 0 ? groupBy.join(',') : undefined });
    return this.#expect<FleetSummaryView>(200, await this.request('GET', path));
  }

  /** `GET /devices/{id}/telemetry`: the device's latest windows and alerts, newest first. */
  async deviceTelemetry(deviceId: string, query: { since?: Date; limit?: number } = {}) {
    const path = withQuery(`devices/${encodeURIComponent(deviceId)}/telemetry`, {
      since: query.since?.toISOString(),
      limit: query.limit,
    });
    return this.#expect<DeviceTelemetryView>(200, await this.request('GET', path));
  }

  /** `GET /fleet/anomalies`: the devices the fleet analysis flags, by device id. */
  async listAnomalies(query: { limit?: number; cursor?: string } = {}) {
    return this.#expect<{ items: AnomalyEntryView[]; nextCursor: string | null }>(
      200,
      await this.request('GET', withQuery('fleet/anomalies', query)),
    );
  }

  /** `GET /fleet/metrics`: the Prometheus text exposition of the cohort statistics. */
  async fleetMetrics(): Promise<string> {
    return this.#expect<string>(200, await this.request('GET', 'fleet/metrics'));
  }

  async createArtifact(spec: {
    kind: ArtifactKind;
    hardwareType: string;
    version: string;
    size: number;
    name?: string;
  }): Promise<CreatedArtifact> {
    return this.#expect<CreatedArtifact>(201, await this.request('POST', 'artifacts', spec));
  }

  /** 202 while the backend measures the artifact, 200 when it was sealed before. */
  async completeArtifactUpload(
    artifactId: string,
    parts?: readonly { partNumber: number; etag: string }[],
  ): Promise<ArtifactView> {
    const response = await this.request<ArtifactView>(
      'POST',
      `artifacts/${encodeURIComponent(artifactId)}/complete`,
      parts ? { parts } : {},
    );
    if (response.status !== 200 && response.status !== 202)
      throw new ApiError(response.status, response.body);
    return response.body;
  }

  async getArtifact(artifactId: string): Promise<ArtifactView> {
    return this.#expect<ArtifactView>(
      200,
      await this.request('GET', `artifacts/${encodeURIComponent(artifactId)}`),
    );
  }

  /**
   * Sends the bytes as the upload instructions say (one PUT, or each part's range to its URL)
   * and returns the part list `completeArtifactUpload` needs (undefined for a single PUT).
   */
  async uploadArtifactBytes(
    upload: UploadInstructions,
    bytes: Uint8Array,
    options: { headers?: Record<string, string> } = {},
  ): Promise<{ partNumber: number; etag: string }[] | undefined> {
    const put = async (url: string, body: Uint8Array) => {
      const response = await fetch(url, { method: 'PUT', body, headers: options.headers ?? {} });
      if (!response.ok) throw new ApiError(response.status, await response.text());
      return response;
    };
    if (upload.type === 'single') {
      await put(upload.url, bytes);
      return undefined;
    }
    const parts: { partNumber: number; etag: string }[] = [];
    for (const part of upload.parts) {
      const response = await put(part.url, bytes.subarray(part.offset, part.offset + part.length));
      const etag = response.headers.get('etag');
      if (!etag) throw new Error(`No ETag for part ${part.partNumber}`);
      parts.push({ partNumber: part.partNumber, etag });
    }
    return parts;
  }

  /** A single-image release (`artifacts`, one per hardware type) or one of `components`. */
  async createRelease(
    request:
      | { version: string; artifacts: readonly string[]; notes?: string }
      | {
          version: string;
          components: readonly ReleaseComponentSpec[];
          downloadLimits?: Readonly<Record<string, DownloadLimitsView>>;
          notes?: string;
        },
  ): Promise<ReleaseView> {
    return this.#expect<ReleaseView>(201, await this.request('POST', 'releases', request));
  }

  async getRelease(releaseId: string): Promise<ReleaseView> {
    return this.#expect<ReleaseView>(
      200,
      await this.request('GET', `releases/${encodeURIComponent(releaseId)}`),
    );
  }

  async listReleases(query: { limit?: number; cursor?: string } = {}) {
    const params = new URLSearchParams(
      Object.entries(query).flatMap(([k, v]): [string, string][] =>
        v === undefined ? [] : [[k, String(v)]],
      ),
    );
    const path = `releases${params.size > 0 ? `?${params}` : ''}`;
    return this.#expect<{ items: ReleaseView[]; nextCursor: string | null }>(
      200,
      await this.request('GET', path),
    );
  }

  #expect<T>(status: number, response: ApiResponse): T {
    if (response.status !== status) throw new ApiError(response.status, response.body);
    return response.body as T;
  }
}

/** `path?k=v&…` of the defined values only. */
function withQuery(path: string, query: object): string {
  const params = new URLSearchParams(
    Object.entries(query).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]])),
  );
  return `${path}${params.size > 0 ? `?${params}` : ''}`;
}
