/**
 * The trial-boot health check from the config: first the agent's own check (the booted slot holds
 * the image that was installed), then each HTTP probe and each command, in order; the first that
 * fails decides. The soak before it (`healthCheckSeconds` of the job) gives services time to start.
 *
 * - HTTP: GET the URL; any 2xx passes, or exactly `expectStatus` when given.
 * - Command: run `argv` without a shell; exit code 0 passes. It gets `EDGEOPS_DEVICE_ID`,
 *   `EDGEOPS_TRIAL_VERSION` and `EDGEOPS_TRIAL_SLOT`; the last line it printed is the failure detail.
 */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import {
  type HealthCheck,
  type HealthVerdict,
  imageMatchesMetadata,
  type TrialBoot,
} from '../ota/health-check';
import type { AgentConfigFile } from './agent-config';

type HealthChecks = AgentConfigFile['healthChecks'];
type Probe = (trial: TrialBoot) => Promise<HealthVerdict>;

const HEALTHY: HealthVerdict = { healthy: true };
const DETAIL_MAX = 200;

export function configuredHealthCheck(checks: HealthChecks): HealthCheck {
  const probes: Probe[] = [
    imageMatchesMetadata,
    ...checks.http.map((probe) => httpProbe(probe.url, probe.timeoutSeconds * 1000, probe.expectStatus)),
    ...checks.commands.map((probe) => commandProbe(probe.argv, probe.timeoutSeconds * 1000)),
  ];
  return async (trial) => {
    for (const probe of probes) {
      const verdict = await probe(trial);
      if (!verdict.healthy) return verdict;
    }
    return HEALTHY;
  };
}

function httpProbe(url: string, timeoutMs: number, expectStatus: number | undefined): Probe {
  // The detail goes into OTA events and logs: no query string.
  const shown = url.replace(/\?.*$/, '');
  return async ({ signal }) => {
    try {
      const response = await fetch(url, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        redirect: 'manual',
      });
      await response.body?.cancel();
      const passes =
        expectStatus === undefined
          ? response.status >= 200 && response.status < 300
          : response.status === expectStatus;
      return passes ? HEALTHY : unhealthy(`GET ${shown} answered ${response.status}`);
    } catch (error) {
      if (signal.aborted) throw error;
      const timedOut = (error as Error).name === 'TimeoutError';
      return unhealthy(
        timedOut ? `GET ${shown}: no answer within ${timeoutMs / 1000} s` : `GET ${shown}: ${causeOf(error)}`,
      );
    }
  };
}

function commandProbe(argv: readonly string[], timeoutMs: number): Probe {
  const [command = '', ...args] = argv;
  const name = basename(command);
  return (trial) =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        args,
        {
          signal: trial.signal,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          maxBuffer: 256 * 1024,
          env: {
            ...process.env,
            EDGEOPS_DEVICE_ID: trial.deviceId,
            EDGEOPS_TRIAL_VERSION: trial.version,
            EDGEOPS_TRIAL_SLOT: trial.slot,
          },
        },
        (error, stdout, stderr) => {
          if (!error) return resolve(HEALTHY);
          if (trial.signal.aborted) return reject(trial.signal.reason ?? error);
          const said = lastLine(`${stdout}\n${stderr}`);
          const how = error.killed
            ? `killed after ${timeoutMs / 1000} s`
            : typeof error.code === 'number'
              ? `exited with ${error.code}`
              : `failed (${error.code ?? error.signal ?? error.message})`;
          resolve(unhealthy(`${name} ${how}${said ? `: ${said}` : ''}`));
        },
      );
    });
}

const unhealthy = (detail: string): HealthVerdict => ({
  healthy: false,
  detail: detail.slice(0, DETAIL_MAX),
});

function lastLine(output: string): string {
  const lines = output.split('\n').map((line) => line.trim());
  return lines.filter(Boolean).at(-1) ?? '';
}

/** fetch's "fetch failed" hides the reason (ECONNREFUSED, …) in `cause`. */
function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
