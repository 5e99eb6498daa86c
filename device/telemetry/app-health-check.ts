/**
 * Application health checks for telemetry (not the trial-boot check of health-probes.ts, which is
 * pass/fail): three verdicts and optional `app.*` metrics, so a check can say "degraded" and
 * report a queue depth. The plug-in contract, as documented in device/README.md:
 *
 * - Command: run `argv` without a shell. Exit 0 healthy, 1 degraded, anything else (or killed
 *   past its time) unhealthy, as Nagios plug-ins do. Lines on stdout of the form
 *   `app.<name>=<number>` are metrics; `restarts_total=<n>` is the application's restart counter.
 * - HTTP: GET the URL. A non-2xx answer is unhealthy. A 2xx answer is healthy, unless its body is
 *   JSON `{ "status": "healthy"|"degraded"|"unhealthy", "metrics": {...}, "restartsTotal": n }`,
 *   which then decides.
 */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { HealthState } from '../../contract/telemetry';
import type { AppHealthCheck, AppHealthReport } from './system-sampler';

const DETAIL_MAX = 200;
const METRIC_LINE = /^(app\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)=(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/i;

/** What a check printed: `app.*=<n>` metrics and `restarts_total=<n>`. */
export function parseCheckOutput(stdout: string): Pick<AppHealthReport, 'metrics' | 'restartsTotal'> {
  const metrics: Record<string, number> = {};
  let restartsTotal: number | undefined;
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    const restarts = /^restarts_total=(\d+)$/.exec(line);
    if (restarts) {
      restartsTotal = Number(restarts[1]);
      continue;
    }
    const match = METRIC_LINE.exec(line);
    if (match?.[1] && match[1].length <= 64) metrics[match[1].toLowerCase()] = Number(match[2]);
  }
  return {
    ...(Object.keys(metrics).length > 0 && { metrics }),
    ...(restartsTotal !== undefined && { restartsTotal }),
  };
}

export function commandHealthCheck(argv: readonly string[]): AppHealthCheck {
  const [command = '', ...args] = argv;
  const name = basename(command);
  return (signal) =>
    new Promise((resolve) => {
      execFile(
        command,
        args,
        { signal, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 },
        (error, stdout, stderr) => {
          const parsed = parseCheckOutput(stdout);
          if (!error) return resolve({ health: 'healthy', ...parsed });
          const code = typeof error.code === 'number' ? error.code : undefined;
          const said = `${stdout}\n${stderr}`
            .split('\n')
            .map((line) => line.trim())
            .filter((line) => line && !METRIC_LINE.test(line) && !line.startsWith('restarts_total='))
            .at(-1);
          const how =
            code === undefined ? `failed (${error.signal ?? error.message})` : `exited with ${code}`;
          resolve({
            health: code === 1 ? 'degraded' : 'unhealthy',
            ...parsed,
            detail: `${name} ${how}${said ? `: ${said}` : ''}`.slice(0, DETAIL_MAX),
          });
        },
      );
    });
}

export function httpHealthCheck(url: string): AppHealthCheck {
  const shown = url.replace(/\?.*$/, '');
  return async (signal) => {
    try {
      const response = await fetch(url, { signal, redirect: 'manual' });
      const text = await response.text();
      if (response.status < 200 || response.status > 299)
        return { health: 'unhealthy', detail: `GET ${shown} answered ${response.status}` };
      return { health: 'healthy', ...reportFromBody(text) };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return { health: 'unhealthy', detail: `GET ${shown}: ${cause ?? (error as Error).message}` };
    }
  };
}

function reportFromBody(text: string): Partial<AppHealthReport> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof body !== 'object' || body === null) return {};
  const { status, metrics, restartsTotal } = body as Record<string, unknown>;
  const report: { health?: HealthState; metrics?: Record<string, number>; restartsTotal?: number } = {};
  const health = HealthState.safeParse(status);
  if (health.success) report.health = health.data;
  if (typeof metrics === 'object' && metrics !== null)
    report.metrics = Object.fromEntries(
      Object.entries(metrics).filter(
        (entry): entry is [string, number] => entry[0].startsWith('app.') && typeof entry[1] === 'number',
      ),
    );
  if (typeof restartsTotal === 'number') report.restartsTotal = restartsTotal;
  return report;
}
