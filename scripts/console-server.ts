/**
 * Serves the operator console for a local run (`npm start`) and its browser tests: the built app,
 * a `config.json` for the local stack, and two same-origin proxies that stand in for what the aws
 * stage does differently:
 * - `/api/*` → the local API Gateway (in AWS, CloudFront routes `/api/*` to API Gateway);
 * - `/cognito/` → local AWS's Cognito (in AWS the browser calls cognito-idp directly, which
 *   answers CORS; local AWS's answers are not to be relied on, and this keeps the CSP the same).
 * node:http in this process, not a child: the run's Ctrl-C handling closes it with nothing left
 * behind.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConsole, STATIC_FILES } from '../console/build';
import { CONSOLE_SECURITY_HEADERS, consoleContentSecurityPolicy } from '../console/security-headers';

export interface ConsoleServerOptions {
  /** The operator API's base URL as local AWS serves it (ends with '/'). */
  readonly apiUrl: string;
  /** Local AWS's endpoint, where Cognito answers. */
  readonly awsEndpoint: string;
  readonly region: string;
  readonly userPoolId: string;
  readonly clientId: string;
  /** @default 0: any free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

export interface ConsoleServer {
  /** e.g. http://127.0.0.1:41234/ */
  readonly url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
};
/** Request bodies are small JSON documents; anything bigger is refused, not buffered. */
const MAX_BODY_BYTES = 1024 * 1024;
const FORWARDED_REQUEST_HEADERS = ['authorization', 'content-type', 'accept', 'x-amz-target'];

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const buildDir = buildConsole(mkdtempSync(join(tmpdir(), 'edgeops-console-')));
  const files = new Map<string, Buffer>();
  for (const file of [...STATIC_FILES, 'app.js']) files.set(file, readFileSync(join(buildDir, file)));
  rmSync(buildDir, { recursive: true, force: true });
  const config = Buffer.from(
    JSON.stringify({
      apiUrl: '/api/',
      region: options.region,
      userPoolId: options.userPoolId,
      clientId: options.clientId,
      cognitoEndpoint: '/cognito/',
    }),
  );
  const headers = {
    ...CONSOLE_SECURITY_HEADERS,
    'content-security-policy': consoleContentSecurityPolicy(),
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) send(response, 502, 'text/plain; charset=utf-8', 'Bad gateway');
      else response.destroy();
    });
  });

  function send(response: ServerResponse, status: number, type: string, body: Buffer | string) {
    response.writeHead(status, { ...headers, 'content-type': type, 'cache-control': 'no-store' });
    response.end(body);
  }

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://console.local');
    if (url.pathname.startsWith('/api/'))
      return proxy(request, response, `${options.apiUrl}${url.pathname.slice('/api/'.length)}${url.search}`);
    if (url.pathname === '/cognito/') {
      if (request.method !== 'POST') return send(response, 405, 'text/plain; charset=utf-8', 'POST only');
      return proxy(request, response, `${options.awsEndpoint}/`);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return send(response, 405, 'text/plain; charset=utf-8', 'Method not allowed');
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    if (name === 'config.json') return send(response, 200, 'application/json', config);
    const file = files.get(name);
    if (!file) return send(response, 404, 'text/plain; charset=utf-8', 'Not found');
    return send(response, 200, CONTENT_TYPES[name] ?? 'application/octet-stream', file);
  }

  async function proxy(request: IncomingMessage, response: ServerResponse, target: string) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return send(response, 413, 'text/plain; charset=utf-8', 'Body too large');
      chunks.push(chunk as Buffer);
    }
    const forwarded: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') forwarded[name] = value;
    }
    const method = request.method ?? 'GET';
    const upstream = await fetch(target, {
      method,
      headers: forwarded,
      ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
      signal: AbortSignal.timeout(60_000),
    });
    const body = Buffer.from(await upstream.arrayBuffer());
    send(response, upstream.status, upstream.headers.get('content-type') ?? 'application/json', body);
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
