/** A small typed client for the operator API, shared by the simulator, the CLI and the tests. */

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
}

export interface Registration {
  readonly device: DeviceView;
  readonly credentials: {
    readonly certificateId: string;
    readonly certificatePem: string;
    readonly privateKey: string;
  };
  readonly mqtt: { readonly endpoint: string; readonly clientId: string };
  /** The TUF root metadata the device trusts from now on; absent before the root ceremony. */
  readonly trustRoot?: unknown;
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

export interface ReleaseView {
  readonly releaseId: string;
  readonly version: string;
  readonly notes: string | null;
  readonly createdAt: string;
  readonly artifacts: Readonly<
    Record<
      string,
      {
        readonly artifactId: string;
        readonly kind: ArtifactKind;
        readonly version: string;
        readonly name: string | null;
        readonly size: number;
        readonly sha256: string;
      }
    >
  >;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`API answered ${status}: ${JSON.stringify(body)}`);
  }
}

export class OperatorApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  /** Sends a request and returns status and parsed body, whatever the status. */
  async request<T = unknown>(method: string, path: string, body?: unknown | string): Promise<ApiResponse<T>> {
    const response = await fetch(new URL(path.replace(/^\//, ''), this.baseUrl), {
      method,
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

  async registerDevice(profile: {
    deviceId: string;
    hardwareType: string;
    site: string;
    region: string;
  }): Promise<Registration> {
    return this.#expect<Registration>(201, await this.request('POST', 'devices', profile));
  }

  async getDevice(deviceId: string): Promise<DeviceView> {
    return this.#expect<DeviceView>(
      200,
      await this.request('GET', `devices/${encodeURIComponent(deviceId)}`),
    );
  }

  async listDevices(query: { site?: string; limit?: number; cursor?: string } = {}) {
    const params = new URLSearchParams(
      Object.entries(query).flatMap(([k, v]): [string, string][] =>
        v === undefined ? [] : [[k, String(v)]],
      ),
    );
    const path = `devices${params.size > 0 ? `?${params}` : ''}`;
    return this.#expect<{ items: DeviceView[]; nextCursor: string | null }>(
      200,
      await this.request('GET', path),
    );
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

  async createRelease(request: {
    version: string;
    artifacts: string[];
    notes?: string;
  }): Promise<ReleaseView> {
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
