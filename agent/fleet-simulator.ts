/**
 * Runs a fleet of reference agents in one process: registers each device through the operator
 * API (as a factory line would), keeps its credentials on disk, connects it over MQTT with mutual
 * TLS and lets it report. Which site and hardware each device gets is decided by its index, so
 * the same size gives the same fleet.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BrokerAddress, DeviceAgent } from './device-agent';
import type { OperatorApiClient, Registration } from './operator-api-client';

export interface FleetSimulatorOptions {
  readonly api: OperatorApiClient;
  readonly broker: BrokerAddress;
  readonly size: number;
  /** Device ids are `<prefix>-<index>`. @default 'sim' */
  readonly prefix?: string;
  readonly sites?: readonly string[];
  readonly hardwareTypes?: readonly string[];
  readonly region?: string;
  readonly firmwareVersion?: string;
  /** Where each device's certificate and key are written (mode 0600). */
  readonly credentialsDir?: string;
  /** Devices registered and connected at once. @default 8 */
  readonly concurrency?: number;
  readonly log?: (line: string) => void;
}

export class FleetSimulator {
  readonly agents: DeviceAgent[] = [];

  constructor(private readonly options: FleetSimulatorOptions) {}

  async start(): Promise<void> {
    const { size, concurrency = 8 } = this.options;
    const indexes = Array.from({ length: size }, (_, i) => i);
    for (let i = 0; i < indexes.length; i += concurrency) {
      await Promise.all(indexes.slice(i, i + concurrency).map((index) => this.#bringUp(index)));
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.agents.map((agent) => agent.stop()));
  }

  async #bringUp(index: number): Promise<void> {
    const {
      api,
      broker,
      prefix = 'sim',
      sites = ['plant-a', 'plant-b', 'shop-7'],
      hardwareTypes = ['rpi4', 'jetson-nano'],
      region = 'eu-west',
      firmwareVersion = '1.0.0',
    } = this.options;
    const deviceId = `${prefix}-${String(index + 1).padStart(4, '0')}`;
    const registration = await api.registerDevice({
      deviceId,
      site: sites[index % sites.length] ?? 'site',
      hardwareType: hardwareTypes[Math.floor(index / sites.length) % hardwareTypes.length] ?? 'hw',
      region,
    });
    this.#saveCredentials(registration);
    const agent = new DeviceAgent({
      identity: { deviceId, ...registration.credentials },
      broker,
      firmwareVersion,
      ...(this.options.log ? { log: this.options.log } : {}),
    });
    await agent.start();
    this.agents.push(agent);
    this.options.log?.(`  ${deviceId} registered, connected, reported ${firmwareVersion}`);
  }

  #saveCredentials(registration: Registration) {
    const dir = this.options.credentialsDir;
    if (!dir) return;
    const deviceDir = join(dir, registration.device.deviceId);
    mkdirSync(deviceDir, { recursive: true, mode: 0o700 });
    for (const [file, content] of [
      ['certificate.pem', registration.credentials.certificatePem],
      ['private.key', registration.credentials.privateKey],
    ] as const) {
      writeFileSync(join(deviceDir, file), content, { mode: 0o600 });
      chmodSync(join(deviceDir, file), 0o600);
    }
  }
}
