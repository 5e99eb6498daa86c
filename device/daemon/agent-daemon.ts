/**
 * `edgeops-agent` as a long-running service: runs one `DeviceAgent` with the options from the
 * config until asked to stop.
 *
 * 1. Build the agent's options from the config (`agentOptions`).
 * 2. Tell systemd READY=1 and start the watchdog pings: ready means started (config and identity
 *    loaded, state dir writable, connecting), not connected; the connection is in STATUS=.
 *    A gateway often boots offline or with no clock until NTP; a readiness that waited for the
 *    cloud would hold up `systemctl start` (and anything ordered after it) and let systemd's start
 *    timeout kill a healthy agent in a restart loop.
 * 3. Start the agent; if the first connection fails (offline, refused, TLS), try again with
 *    backoff (1 s doubling to 60 s). Once connected, mqtt.js reconnects by itself.
 * 4. On stop (SIGTERM/SIGINT): STOPPING=1, `agent.stop()` (a clean MQTT disconnect; work in
 *    progress resumes from the state dir on the next start), at most `stopTimeoutMs`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceAgent, type DeviceAgentOptions, type TelemetryOptions } from '../device-agent';
import { commandHealthCheck, httpHealthCheck } from '../telemetry/app-health-check';
import { SystemSampler } from '../telemetry/system-sampler';
import type { AgentConfig } from './agent-config';
import { configuredHealthCheck } from './health-probes';
import type { JournalLog } from './journal-log';
import type { SystemdNotifier } from './sd-notify';

export interface AgentDaemonOptions {
  readonly log: JournalLog;
  readonly notifier: SystemdNotifier;
  /** Aborted when the service must stop. */
  readonly stop: AbortSignal;
  /** @default 20000 (below the unit's TimeoutStopSec=30) */
  readonly stopTimeoutMs?: number;
  /** Pause after the first failed start, doubled after each further one. @default 1000 */
  readonly retryFirstMs?: number;
  /** @default 60000 */
  readonly retryMaxMs?: number;
  /** How often the connection state is checked for STATUS= and the log. @default 1000 */
  readonly statusIntervalMs?: number;
}

/** Step 1: the config as `DeviceAgent` options. */
export function agentOptions(config: AgentConfig, log: (message: string) => void): DeviceAgentOptions {
  const { allowPlainHttp, ...downloadLimits } = config.downloads;
  const modules = config.updateModules;
  const telemetry = telemetryOptions(config, log);
  return {
    identity: {
      deviceId: config.deviceId,
      certificatePem: config.certificatePem,
      privateKey: config.privateKeyPem,
    },
    broker: { host: config.mqtt.host, port: config.mqtt.port, ca: config.caPem },
    firmwareVersion: config.factoryVersion,
    log,
    ota: {
      stateDir: config.stateDir,
      hardwareType: config.hardwareType,
      healthCheck: configuredHealthCheck(config.healthChecks),
      allowPlainHttp,
      maxTrialBoots: config.trialBoots,
      downloadLimits,
      trustRoot: config.trustRootJson,
      rootfs: config.rootfs,
      // Unset: the agent's default handlers dir (/usr/lib/edgeops/update-modules) and timeouts.
      ...(modules && {
        updateModules: { handlersDir: modules.dir, timeouts: modules.timeouts, env: modules.env },
      }),
    },
    ...(telemetry && { telemetry }),
  };
}

/** The config's `telemetry` section: the system sampler on the state dir, with its app check. */
function telemetryOptions(config: AgentConfig, log: (message: string) => void): TelemetryOptions | undefined {
  const { enabled, healthCheck, ...settings } = config.telemetry;
  if (!enabled) return undefined;
  const probe = healthCheck?.http ?? healthCheck?.command;
  // A check slower than the sampling would hold up the samples behind it.
  const healthTimeoutMs = Math.min(probe?.timeoutSeconds ?? 5, settings.sampleEverySeconds) * 1000;
  return {
    ...settings,
    stateDir: config.stateDir,
    sampler: new SystemSampler({
      stateDir: config.stateDir,
      healthCheck: healthCheck?.http
        ? httpHealthCheck(healthCheck.http.url)
        : healthCheck?.command
          ? commandHealthCheck(healthCheck.command.argv)
          : undefined,
      healthTimeoutMs,
      log,
    }),
  };
}

export async function runAgentDaemon(config: AgentConfig, options: AgentDaemonOptions): Promise<void> {
  const { log, notifier, stop } = options;
  const broker = `${config.mqtt.host}:${config.mqtt.port}`;
  const agent = new DeviceAgent(agentOptions(config, agentLog(config.deviceId, log)));

  await notifier.notify('READY=1', `STATUS=connecting to ${broker}`);
  notifier.startWatchdog();
  const status = watchStatus(agent, broker, options);

  let delayMs = options.retryFirstMs ?? 1_000;
  while (!stop.aborted) {
    try {
      await agent.start();
      log.info(
        `connected to ${broker} as ${config.deviceId}, running ${agent.firmwareVersion} (slot ${agent.slot})`,
      );
      break;
    } catch (error) {
      if (stop.aborted) break;
      const jittered = Math.round(delayMs * (0.8 + Math.random() * 0.4));
      const problem = `cannot connect to ${broker}: ${(error as Error).message}`;
      log.warning(`${problem}; trying again in ${jittered} ms`);
      void notifier.notify(`STATUS=${problem}; trying again`);
      await sleep(jittered, undefined, { signal: stop }).catch(() => {});
      delayMs = Math.min(delayMs * 2, options.retryMaxMs ?? 60_000);
    }
  }
  if (!stop.aborted) await new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }));

  log.info(`stopping (${String(stop.reason)})`);
  status.close();
  await notifier.notify('STOPPING=1');
  const stopTimeoutMs = options.stopTimeoutMs ?? 20_000;
  const stopped = await Promise.race([
    agent.stop().then(
      () => true,
      (error) => {
        log.warning(`stop: ${(error as Error).message}`);
        return true;
      },
    ),
    sleep(stopTimeoutMs, false, { ref: false }),
  ]);
  if (!stopped)
    log.warning(`the agent did not stop within ${stopTimeoutMs} ms; exiting (its state dir is safe)`);
  await notifier.close();
  log.info('stopped');
}

/** Online/offline edges into the log and STATUS=, checked on a timer (the agent has no event for them). */
function watchStatus(agent: DeviceAgent, broker: string, options: AgentDaemonOptions) {
  const { log, notifier } = options;
  let wasOnline = false;
  let everOnline = false;
  const timer = setInterval(() => {
    const online = agent.online;
    if (online === wasOnline) return;
    wasOnline = online;
    if (online && everOnline) log.info(`connected to ${broker} again`);
    everOnline ||= online;
    void notifier.notify(
      online
        ? `STATUS=connected to ${broker}, running ${agent.firmwareVersion} (slot ${agent.slot})`
        : `STATUS=offline, reconnecting to ${broker}`,
    );
  }, options.statusIntervalMs ?? 1_000);
  timer.unref();
  return { close: () => clearInterval(timer) };
}

/** Words in the agent's messages that make them warnings (it logs through one untyped callback). */
const TROUBLE = /\b(?:error|failed|fails|refused|rejected|dropped|invalid|cannot|stopped)\b/i;
/** An identical message again within this window is counted, not logged (mqtt.js retries every 2 s). */
const REPEAT_WINDOW_MS = 5 * 60_000;

/**
 * The agent's log lines: its `[deviceId] ` prefix dropped (the service is one device), a level from
 * the wording, and a run of the same message (a reconnect failing every 2 s while offline) logged
 * once, then counted.
 */
export function agentLog(deviceId: string, log: JournalLog, now = Date.now): (message: string) => void {
  const prefix = `[${deviceId}] `;
  let last: { text: string; at: number; repeats: number } | undefined;
  return (raw) => {
    const text = raw.startsWith(prefix) ? raw.slice(prefix.length) : raw;
    const at = now();
    if (last && last.text === text && at - last.at < REPEAT_WINDOW_MS) {
      last.repeats += 1;
      return;
    }
    if (last && last.repeats > 0) log.info(`(the message before repeated ${last.repeats} more times)`);
    last = { text, at, repeats: 0 };
    if (TROUBLE.test(text)) log.warning(text);
    else log.info(text);
  };
}
