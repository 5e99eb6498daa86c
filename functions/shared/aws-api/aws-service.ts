/**
 * Signed HTTP calls to one AWS service, for the few APIs our Lambdas call besides DynamoDB. The
 * SDK's clients for the REST services (S3, AWS IoT, the IoT data plane, Lambda) bring every
 * operation's schema of their service into a bundle (computed keys in the schemas keep esbuild from
 * dropping unused ones), plus endpoint rules, checksums and XML code: 70-160 KB per client, where
 * the calls we make are a path, a few headers and a JSON or XML body. Step Functions' and KMS's
 * clients cost 20-25 KB each, more than the rollout functions and the trust publisher can spare.
 * So these calls are signed with the SDK's own SignatureV4 (every bundle carries it for DynamoDB
 * anyway), sent with Node's fetch, retried as the SDK's standard mode does, and fail with
 * AwsApiError named by the service's error code.
 *
 * Like the SDK: credentials from the environment (as Lambda sets them, see env-credentials.ts),
 * the region from AWS_REGION, and the endpoint from AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL
 * when set (local AWS), else the service's host in AWS.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignatureV4 } from '@smithy/signature-v4';

/** A request as SignatureV4 takes it (the @smithy/types shape). */
type HttpRequest = Parameters<SignatureV4['presign']>[0];

export interface AwsServiceOptions {
  /** The name requests are signed for (the SigV4 credential scope), e.g. `s3`, `iot`, `iotdata`. */
  readonly signingName: string;
  /** The SDK's service id in AWS_ENDPOINT_URL_<id>, e.g. `S3`, `IOT`, `IOT_DATA_PLANE`. */
  readonly endpointId: string;
  /** The service's host in AWS for a region. */
  readonly host: (region: string) => string;
  /** S3 signs the path as sent; every other service signs it encoded once more. @default true */
  readonly uriEscapePath?: boolean;
  /**
   * Add `X-Forwarded-Proto: https` after signing when the endpoint is configured (local AWS): it
   * speaks plain HTTP and counts a request as TLS (aws:SecureTransport) only when told so, and
   * the artifact bucket denies all others, as S3 does. @default false
   */
  readonly markLocalRequestsAsTls?: boolean;
}

export interface AwsApiRequest {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Scheme, host and port to send to. @default the service's endpoint */
  readonly origin?: string;
  /** The path with each segment already encoded (`encodePath`). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  /** Header names in lower case (except those a presigned URL hoists into its query). */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  readonly body?: string | Uint8Array;
}

/** An error answer of an AWS service, named by its error code (e.g. `NoSuchKey`). */
export class AwsApiError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly statusCode: number,
    /** The fields of a JSON error body, e.g. `resourceArn` of ResourceAlreadyExistsException. */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}

/** Whether `error` is an answer of an AWS service with one of these error codes. */
export function isAwsApiError(error: unknown, ...codes: string[]): error is AwsApiError {
  return error instanceof AwsApiError && (codes.length === 0 || codes.includes(error.name));
}

/** Attempts per call, and the backoff between them, as in the SDK's standard retry mode. */
export const MAX_ATTEMPTS = 3;
const BASE_DELAY_MS = 100;
const THROTTLING_BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 20_000;
/** Error codes the SDK retries as throttling (service-error-classification). */
const THROTTLING_CODES = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);
const TRANSIENT_CODES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);

export class AwsService {
  readonly #options: AwsServiceOptions;
  readonly #signer: SignatureV4;

  constructor(options: AwsServiceOptions) {
    this.#options = options;
    this.#signer = new SignatureV4({
      service: options.signingName,
      region: async () => region(),
      credentials: environmentCredentials,
      sha256: NodeSha256,
      uriEscapePath: options.uriEscapePath ?? true,
    });
  }

  /** The endpoint set in the environment (local AWS), if any. */
  configuredEndpoint(): string | undefined {
    const url = process.env[`AWS_ENDPOINT_URL_${this.#options.endpointId}`] ?? process.env.AWS_ENDPOINT_URL;
    return url ? new URL(url).origin : undefined;
  }

  /** Where requests go: the configured endpoint, else the service's host in AWS. */
  origin(): string {
    return this.configuredEndpoint() ?? `https://${this.#options.host(region())}`;
  }

  /**
   * Sends the request, signed, and answers the response if its status is 2xx; the caller reads
   * (or cancels) its body. Throttling, 5xx and network failures are tried again, up to
   * MAX_ATTEMPTS in all; any other error answer throws AwsApiError at once.
   */
  async send(request: AwsApiRequest): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let failure: unknown;
      try {
        const { url, init } = await this.#signed(request);
        const response = await fetch(url, init);
        if (response.ok) return response;
        failure = await errorOf(response);
      } catch (error) {
        failure = error;
      }
      const retry = retryKind(failure);
      if (retry === undefined || attempt >= MAX_ATTEMPTS) throw failure;
      const base = retry === 'throttling' ? THROTTLING_BASE_DELAY_MS : BASE_DELAY_MS;
      await sleep(Math.floor(Math.random() * Math.min(MAX_DELAY_MS, base * 2 ** attempt)));
    }
  }

  /** Sends the request and parses its JSON answer (`{}` for an empty one). */
  async sendJson<T>(request: AwsApiRequest): Promise<T> {
    const text = await (await this.send(request)).text();
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  /** A URL that makes this request without credentials until it expires (query-string SigV4). */
  async presign(request: AwsApiRequest, expiresInSeconds: number): Promise<string> {
    const presigned = await this.#signer.presign(
      { ...this.#httpRequest(request), body: undefined },
      { expiresIn: expiresInSeconds },
    );
    return urlOf(presigned);
  }

  async #signed(request: AwsApiRequest): Promise<{ url: string; init: RequestInit }> {
    const signed = await this.#signer.sign(this.#httpRequest(request));
    const { host: _host, ...headers } = signed.headers;
    if (this.#options.markLocalRequestsAsTls && this.configuredEndpoint() !== undefined) {
      headers['x-forwarded-proto'] = 'https';
    }
    return {
      url: urlOf(signed),
      init: { method: request.method, headers, body: request.body, redirect: 'manual' },
    };
  }

  #httpRequest(request: AwsApiRequest): HttpRequest {
    const origin = new URL(request.origin ?? this.origin());
    const query: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) query[name] = String(value);
    }
    const headers: Record<string, string> = { host: origin.host };
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (value !== undefined) headers[name] = value;
    }
    return {
      method: request.method,
      protocol: origin.protocol,
      hostname: origin.hostname,
      ...(origin.port ? { port: Number(origin.port) } : {}),
      path: request.path,
      query,
      headers,
      body: request.body,
    };
  }
}

/** The request's URL, its query encoded as SigV4 encodes it for the signature. */
function urlOf(request: HttpRequest): string {
  const port = request.port === undefined ? '' : `:${request.port}`;
  const query = Object.entries(request.query ?? {})
    .flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) => `${escapeUri(name)}=${escapeUri(v ?? '')}`),
    )
    .join('&');
  return `${request.protocol}//${request.hostname}${port}${request.path}${query ? `?${query}` : ''}`;
}

/** RFC 3986 encoding, as SigV4 wants it: everything but unreserved characters. */
export function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** A path from its segments, each encoded: `encodePath('things', 'a/b')` is `/things/a%2Fb`. */
export function encodePath(...segments: string[]): string {
  return segments.map((segment) => `/${escapeUri(segment)}`).join('');
}

/** The AWS partition's DNS suffix for a region (aws and aws-cn; aws-us-gov shares aws's). */
export function dnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** The region the function runs in (AWS_REGION). */
export function region(): string {
  const value = process.env.AWS_REGION;
  if (!value) throw new Error('AWS_REGION is not set');
  return value;
}

/** The function role's credentials, which Lambda (and local AWS's Lambda workers) set. */
async function environmentCredentials() {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) {
    throw new Error('No AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
  }
  return {
    accessKeyId: AWS_ACCESS_KEY_ID,
    secretAccessKey: AWS_SECRET_ACCESS_KEY,
    ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}),
  };
}

/** The AwsApiError an error answer stands for: its code from the header or the JSON or XML body. */
async function errorOf(response: Response): Promise<AwsApiError> {
  const text = await response.text();
  let details: Record<string, unknown> = {};
  let code = response.headers.get('x-amzn-errortype') ?? undefined;
  let message: string | undefined;
  if (text.startsWith('{')) {
    try {
      details = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Not JSON after all: the status names the error.
    }
    code ??= stringField(details, '__type') ?? stringField(details, 'code');
    message = stringField(details, 'message') ?? stringField(details, 'Message');
  } else if (text.startsWith('<')) {
    code ??= xmlText(text, 'Code');
    message = xmlText(text, 'Message');
  }
  const name = code ? errorCode(code) : (STATUS_NAMES[response.status] ?? `Http${response.status}`);
  return new AwsApiError(name, message ?? `${name} (HTTP ${response.status})`, response.status, details);
}

/** Answers without a body (HEAD, some 3xx/4xx) are named by their status, as the SDK does. */
const STATUS_NAMES: Record<number, string> = {
  301: 'PermanentRedirect',
  307: 'TemporaryRedirect',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
};

/** `aws.protocoltests#ValidationException:http://…` → `ValidationException`, as the SDK cleans codes. */
function errorCode(raw: string): string {
  const first = raw.split(',')[0]?.split(':')[0] ?? raw;
  return first.includes('#') ? (first.split('#')[1] ?? first) : first;
}

function stringField(object: Record<string, unknown>, name: string): string | undefined {
  const value = object[name];
  return typeof value === 'string' ? value : undefined;
}

/** How the SDK's standard mode would retry this failure, if at all. */
function retryKind(failure: unknown): 'throttling' | 'transient' | undefined {
  if (failure instanceof AwsApiError) {
    if (failure.statusCode === 429 || THROTTLING_CODES.has(failure.name)) return 'throttling';
    if (TRANSIENT_STATUS.has(failure.statusCode) || TRANSIENT_CODES.has(failure.name)) return 'transient';
    return undefined;
  }
  // fetch rejects with a TypeError when the connection fails (reset, refused, DNS...).
  return failure instanceof TypeError ? 'transient' : undefined;
}

/** The text of the first `<name>…</name>` element, entities decoded. */
export function xmlText(xml: string, name: string): string | undefined {
  return xmlTexts(xml, name)[0];
}

/** The texts of every `<name>…</name>` element (elements without children), entities decoded. */
export function xmlTexts(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))].map((m) => decodeXml(m[1] ?? ''));
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
    return XML_ENTITIES[name] ?? entity;
  });
}

const XML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c);
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

const bytesOf = (data: SourceData): Buffer =>
  typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

/** SHA-256 (HMAC-SHA-256 with a secret) from node:crypto, in the shape SignatureV4 hashes with. */
class NodeSha256 {
  readonly #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }

  update(data: SourceData): void {
    this.#hash.update(bytesOf(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}
