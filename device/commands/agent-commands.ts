/**
 * Remote commands inside the agent: the command runner, the per-session upload URL client and
 * the messages and subscriptions they need, behind the few calls `DeviceAgent` makes. Command
 * jobs arrive through the same AWS IoT Jobs session as OTA jobs; the agent sends a job here when
 * its document says `edgeopsCommand` (`isCommandDocument`), and to the OTA updater otherwise.
 */
import { join } from 'node:path';
import { COMMAND_NAMES } from '../../contract/device-commands';
import type { IotJobsClient } from '../cloud/iot-jobs-client';
import type { JobExecution } from '../cloud/iot-jobs-messages';
import type { MqttConnection } from '../cloud/mqtt-connection';
import { InstalledComponentsStore } from '../ota/installed-components';
import { DeviceStateDir } from '../storage/device-state-dir';
import { CommandRunner, type CommandSession, type CommandStep } from './command-runner';
import { type LogSource, MemoryLogSource } from './log-collection';
import { UploadUrlClient } from './upload-url-client';

/** How the agent runs remote commands (`DeviceAgentOptions.commands`). */
export interface DeviceAgentCommandOptions {
  /** Where the runner keeps its in-flight reboot and undelivered results (`commands.json`). */
  readonly stateDir: string;
  /**
   * Reboots the device (the daemon: `systemctl reboot` or a configured command). @default the
   * agent reboots in-process, as simulations model a reboot
   */
  readonly reboot?: () => Promise<void>;
  /** An id that changes with every boot. @default one per in-process boot of this agent */
  readonly bootId?: () => Promise<string | undefined>;
  /** The logs upload-logs sends. @default the agent's own recent log lines (1 MiB, in memory) */
  readonly logs?: LogSource;
  /** HTTP(S) endpoints diagnostics probes, the first answering one also giving the time. @default none */
  readonly endpoints?: readonly string[];
  /** The agent's version, for inventory. @default '0.0.0' */
  readonly agentVersion?: string;
  /** Accept `http:` upload URLs (local AWS only). @default false */
  readonly allowPlainHttp?: boolean;
  /** How far past its expiry a command is still taken. @default 60000 */
  readonly clockSkewToleranceMs?: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /** fsync the runner's state file. @default true */
  readonly fsync?: boolean;
}

/** What the agent knows that inventory and diagnostics report. */
export interface AgentFacts {
  readonly deviceId: string;
  readonly firmwareVersion: () => string;
  readonly hardwareType?: string;
  /** The OTA state dir, whose installed-components.json lists the components. */
  readonly otaStateDir?: string;
  readonly broker?: { readonly host: string; readonly port: number };
  readonly capabilities: readonly string[];
  readonly bootId: () => Promise<string | undefined>;
  readonly log: (message: string) => void;
}

export class AgentCommands {
  #uploads: UploadUrlClient | undefined;

  private constructor(
    readonly runner: CommandRunner,
    private readonly deviceId: string,
  ) {}

  /** The agent's own log lines, when no other log source is configured (feed it every line). */
  static memoryLog(options: DeviceAgentCommandOptions): MemoryLogSource | undefined {
    return options.logs ? undefined : new MemoryLogSource(1024 * 1024, options.clock ?? Date.now);
  }

  static async open(
    options: DeviceAgentCommandOptions,
    facts: AgentFacts,
    memoryLog: MemoryLogSource | undefined,
  ): Promise<AgentCommands> {
    const logs = options.logs ?? memoryLog;
    if (!logs) throw new Error('AgentCommands needs a log source');
    const components = async (): Promise<Record<string, string>> => {
      const installed = facts.otaStateDir
        ? await new InstalledComponentsStore(
            new DeviceStateDir(facts.otaStateDir).installedComponentsFile,
            {},
          ).read()
        : {};
      const versions = Object.fromEntries(Object.entries(installed).map(([name, c]) => [name, c.version]));
      return Object.keys(versions).length > 0 ? versions : { firmware: facts.firmwareVersion() };
    };
    const runner = await CommandRunner.open({
      deviceId: facts.deviceId,
      stateDir: join(options.stateDir),
      durability: { fsync: options.fsync ?? true },
      now: options.clock ?? Date.now,
      log: facts.log,
      clockSkewToleranceMs: options.clockSkewToleranceMs,
      reboot: options.reboot,
      bootId: options.bootId ?? facts.bootId,
      logs,
      diagnostics: { broker: facts.broker, endpoints: options.endpoints ?? [] },
      inventory: {
        agentVersion: options.agentVersion ?? '0.0.0',
        get firmwareVersion() {
          return facts.firmwareVersion();
        },
        ...(facts.hardwareType ? { hardwareType: facts.hardwareType } : {}),
        components,
        capabilities: [...COMMAND_NAMES.map((c) => `commands:${c}`), ...facts.capabilities],
      },
      allowPlainHttp: options.allowPlainHttp ?? false,
    });
    return new AgentCommands(runner, facts.deviceId);
  }

  /** A new MQTT session: its upload URL client. */
  attach(connection: MqttConnection, timeoutMs: number, log: (message: string) => void): void {
    this.#uploads?.close('new session');
    this.#uploads = new UploadUrlClient(connection, this.deviceId, timeoutMs, log);
  }

  /** The session ended. */
  detach(reason: string): void {
    this.#uploads?.close(reason);
    this.#uploads = undefined;
  }

  get subscriptions(): readonly string[] {
    return this.#uploads?.subscriptions ?? [];
  }

  /** Routes a message; true when it was an answer for the commands. */
  handle(topic: string, payload: Buffer): boolean {
    return this.#uploads?.handle(topic, payload) ?? false;
  }

  /** The runner's view of a session: its Jobs client, its connection and its end. */
  session(connection: MqttConnection, jobs: IotJobsClient, signal: AbortSignal): CommandSession {
    return {
      signal,
      update: (jobId, status, details, clientToken) => jobs.update(jobId, status, details, clientToken),
      publish: (topic, payload) => connection.publish(topic, payload, 1),
      requestUploadUrl: (commandId, bytes) => {
        const uploads = this.#uploads;
        if (!uploads) return Promise.reject(new Error('not connected'));
        return uploads.request(commandId, bytes);
      },
    };
  }

  resume(session: CommandSession): Promise<void> {
    return this.runner.resume(session);
  }

  run(session: CommandSession, execution: JobExecution): Promise<CommandStep> {
    return this.runner.run(session, execution);
  }

  refuse(session: CommandSession, execution: JobExecution, detail: string): Promise<CommandStep> {
    return this.runner.refuse(session, execution, detail);
  }
}
