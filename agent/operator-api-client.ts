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

  #expect<T>(status: number, response: ApiResponse): T {
    if (response.status !== status) throw new ApiError(response.status, response.body);
    return response.body as T;
  }
}
