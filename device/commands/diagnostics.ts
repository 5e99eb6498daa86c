/**
 * The diagnostics command: can the device reach its broker and the HTTP endpoints it needs, how
 * much disk it has, and how far its clock is from a server's. Every figure goes into the job's
 * statusDetails as a string (AWS IoT Jobs takes nothing else there).
 */
import { statfs } from 'node:fs/promises';
import { connect } from 'node:net';
import { freemem, loadavg, uptime } from 'node:os';

export interface DiagnosticsTargets {
  /** The MQTT broker: a TCP connect is timed (TLS and MQTT are the session's own business). */
  readonly broker?: { readonly host: string; readonly port: number } | undefined;
  /**
   * HTTP(S) endpoints the device depends on (S3 for artifacts and logs, an API): each is asked
   * once; any HTTP answer counts as reachable. The first answer's `Date` header is the time
   * source for the clock skew.
   */
  readonly endpoints: readonly string[];
  /** Where the state dir is: its file system's free space is what updates and logs need. */
  readonly diskPath: string;
}

export interface DiagnosticsOptions {
  readonly timeoutMs: number;
  readonly now: () => number;
  /** Headers for an endpoint (local AWS's plain-http ones need `x-forwarded-proto`). */
  readonly headersFor?: (url: URL) => Record<string, string>;
}

export async function runDiagnostics(
  targets: DiagnosticsTargets,
  options: DiagnosticsOptions,
): Promise<Record<string, string>> {
  const details: Record<string, string> = {};
  if (targets.broker) {
    const { host, port } = targets.broker;
    const broker = await timedConnect(host, port, options.timeoutMs, options.now);
    details.broker = `${host}:${port}`;
    details.brokerReachable = String(broker.ok);
    if (broker.ok) details.brokerConnectMs = String(broker.ms);
    else details.brokerError = broker.error.slice(0, 1000);
  }

  let skewFound = false;
  for (const [index, endpoint] of targets.endpoints.slice(0, 4).entries()) {
    const key = `endpoint${index + 1}`;
    details[key] = endpoint.slice(0, 1000);
    const probe = await timedFetch(endpoint, options);
    details[`${key}Reachable`] = String(probe.ok);
    if (!probe.ok) {
      details[`${key}Error`] = probe.error.slice(0, 1000);
      continue;
    }
    details[`${key}Status`] = String(probe.status);
    details[`${key}LatencyMs`] = String(probe.ms);
    if (!skewFound && probe.serverTime !== undefined) {
      // The server stamped its answer somewhere between sending and receiving; the Date header
      // has whole seconds, so the skew is known to about ±0.5 s plus half the round trip.
      skewFound = true;
      details.clockSkewMs = String(Math.round(probe.midpoint - probe.serverTime));
      details.clockSource = endpoint.slice(0, 1000);
    }
  }
  if (!skewFound) details.clockSkewMs = 'unknown';

  try {
    const fs = await statfs(targets.diskPath);
    const total = fs.blocks * fs.bsize;
    const free = fs.bavail * fs.bsize;
    details.diskPath = targets.diskPath;
    details.diskTotalBytes = String(total);
    details.diskFreeBytes = String(free);
    details.diskUsedPercent = total > 0 ? ((100 * (total - free)) / total).toFixed(1) : '0';
  } catch (error) {
    details.diskError = (error as Error).message.slice(0, 1000);
  }
  details.memoryFreeBytes = String(freemem());
  details.uptimeSeconds = String(Math.round(uptime()));
  details.loadAverage1m = (loadavg()[0] ?? 0).toFixed(2);
  return details;
}

type Probe = { ok: true; ms: number } | { ok: false; error: string };

function timedConnect(host: string, port: number, timeoutMs: number, now: () => number): Promise<Probe> {
  const started = now();
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (probe: Probe) => {
      socket.destroy();
      resolve(probe);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, error: `no connection within ${timeoutMs} ms` }));
    socket.once('connect', () => done({ ok: true, ms: now() - started }));
    socket.once('error', (error) => done({ ok: false, error: error.message }));
  });
}

type FetchProbe =
  | { ok: true; status: number; ms: number; serverTime: number | undefined; midpoint: number }
  | { ok: false; error: string };

async function timedFetch(endpoint: string, options: DiagnosticsOptions): Promise<FetchProbe> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { ok: false, error: 'not a URL' };
  }
  const started = options.now();
  try {
    const response = await fetch(url, {
      method: 'GET',
      headers: options.headersFor?.(url) ?? {},
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    await response.body?.cancel();
    const ended = options.now();
    const date = response.headers.get('date');
    const serverTime = date ? Date.parse(date) : Number.NaN;
    return {
      ok: true,
      status: response.status,
      ms: ended - started,
      serverTime: Number.isNaN(serverTime) ? undefined : serverTime,
      midpoint: (started + ended) / 2,
    };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
