/**
 * `edgeops-agent [--config <file>] [--check]`: the device agent as a service (see INSTALL.md).
 *
 * Exit codes (sysexits(3), as systemd names them): 0 stopped cleanly or `--check` passed;
 * 64 bad arguments; 70 an internal error; 73 the state dir cannot be created or written;
 * 78 the config is refused (one line on stderr names the file and the field; nothing started).
 */
import packageJson from '../package.json' with { type: 'json' };
import { DEFAULT_HANDLERS_DIR } from '../update-modules/handler-contract';
import {
  ConfigError,
  configPath,
  DEFAULT_CONFIG_PATH,
  EX_CANTCREAT,
  EX_CONFIG,
  EX_SOFTWARE,
  EX_USAGE,
  loadAgentConfig,
  StateDirError,
} from './agent-config';
import { runAgentDaemon } from './agent-daemon';
import { type JournalLog, journalLog, oneLine, redact, stdoutIsJournal } from './journal-log';
import { systemdNotifier } from './sd-notify';

const NAME = 'edgeops-agent';

const USAGE = `usage: ${NAME} [--config <file>] [--check] [--version]

  --config <file>  the config (JSON); default $EDGEOPS_AGENT_CONFIG, else ${DEFAULT_CONFIG_PATH}
  --check          check the config and the files it names (and create the state dir), then
                   exit: 0 good, 78 refused, 73 state dir not writable
  --version        print the version`;

interface Arguments {
  readonly config: string | undefined;
  readonly check: boolean;
}

function parseArguments(argv: readonly string[]): Arguments | 'help' | 'version' {
  let config: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--version') return 'version';
    if (arg === '--check') check = true;
    else if (arg === '--config' && argv[i + 1] !== undefined) config = argv[++i];
    else if (arg.startsWith('--config=')) config = arg.slice('--config='.length);
    else throw new UsageError(arg === '--config' ? '--config needs a file' : `unknown argument: ${arg}`);
  }
  return { config, check };
}

class UsageError extends Error {}

/** Before the logger exists: one line on stderr, with the error priority when that is the journal. */
function fail(message: string, code: number): never {
  const prefix = stdoutIsJournal(process.env, 2) ? '<3>' : '';
  process.stderr.write(`${prefix}${NAME}: ${oneLine(redact(message))}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArguments>;
  try {
    args = parseArguments(process.argv.slice(2));
  } catch (error) {
    fail(`${(error as Error).message} (see --help)`, EX_USAGE);
  }
  if (args === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args === 'version') {
    process.stdout.write(`${packageJson.version}\n`);
    return;
  }

  // NOTIFY_SOCKET and WATCHDOG_* leave the environment before anything runs a child process.
  let log: JournalLog | undefined;
  const notifier = systemdNotifier({
    log: { warning: (message) => log?.warning(message), debug: (message) => log?.debug(message) },
  });
  const path = configPath(args.config, process.env);
  let config: Awaited<ReturnType<typeof loadAgentConfig>>;
  try {
    config = await loadAgentConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, EX_CONFIG);
    if (error instanceof StateDirError) fail(`${path}: ${error.message}`, EX_CANTCREAT);
    throw error;
  }

  const priorityPrefix =
    config.log.priorityPrefix === 'auto' ? stdoutIsJournal(process.env) : config.log.priorityPrefix;
  log = journalLog({ level: config.log.level, priorityPrefix });
  for (const warning of config.warnings) log.warning(warning);
  if (args.check) {
    log.info(`${path}: config good`);
    return;
  }

  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) return stop.abort(signal);
    log?.warning(`${signal} again: exiting now`);
    process.exit(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const fatal = (error: unknown) => {
    log?.error(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(EX_SOFTWARE);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);

  const facts = [
    `device ${config.deviceId} (${config.hardwareType})`,
    `broker ${config.mqtt.host}:${config.mqtt.port}`,
    `state dir ${config.stateDir}`,
    `update modules ${config.updateModules?.dir ?? DEFAULT_HANDLERS_DIR}`,
    ...(config.rootfs === 'update-module' ? ['rootfs through its update module'] : []),
    config.telemetry.enabled
      ? `telemetry every ${config.telemetry.sampleEverySeconds} s, ${config.telemetry.alertRules.length} alert rules`
      : 'telemetry off',
    ...(notifier.enabled ? ['systemd notify'] : []),
    ...(notifier.watchdogIntervalMs ? [`watchdog every ${notifier.watchdogIntervalMs} ms`] : []),
  ];
  log.info(`${NAME} ${packageJson.version}: ${facts.join(', ')}`);
  await runAgentDaemon(config, { log, notifier, stop: stop.signal });
}

main().then(
  // The MQTT client's sockets and timers would keep the process alive; it is done.
  () => process.exit(0),
  (error: unknown) =>
    fail(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, EX_SOFTWARE),
);
