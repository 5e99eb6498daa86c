/**
 * The inventory command: what the device runs and is, as `DeviceInventoryV1`, for its item in the
 * fleet table. Facts the platform cannot give are left out rather than guessed.
 */
import { readFile } from 'node:fs/promises';
import { arch, cpus, hostname, platform, release, totalmem } from 'node:os';
import type { DeviceInventoryV1 } from '../../contract/device-commands';
import { VERSION_PATTERN } from '../../contract/identifiers';

export interface InventoryFacts {
  readonly agentVersion: string;
  readonly firmwareVersion: string;
  readonly hardwareType?: string;
  /** Installed components (name → version), e.g. from the OTA state dir. */
  readonly components: () => Promise<Readonly<Record<string, string>>>;
  readonly capabilities: readonly string[];
}

const short = (text: string) => text.trim().slice(0, 256);

export async function gatherInventory(
  facts: InventoryFacts,
  context: { readonly commandId?: string; readonly now: () => number; readonly osReleaseFile?: string },
): Promise<DeviceInventoryV1> {
  const components = Object.entries(await facts.components())
    .filter(([name, version]) => name.length > 0 && VERSION_PATTERN.test(version))
    .slice(0, 64)
    .map(([name, version]) => ({ name: short(name), version }));
  const distro = await readDistro(context.osReleaseFile ?? '/etc/os-release');
  const cpuList = cpus();
  const model = cpuList[0]?.model ? short(cpuList[0].model) : '';
  const host = short(hostname());
  return {
    ...(context.commandId ? { commandId: context.commandId } : {}),
    reportedAt: new Date(context.now()).toISOString(),
    agentVersion: facts.agentVersion,
    firmwareVersion: facts.firmwareVersion,
    components,
    hardware: {
      ...(facts.hardwareType ? { hardwareType: short(facts.hardwareType) } : {}),
      arch: arch(),
      ...(model ? { cpuModel: model } : {}),
      cpuCount: cpuList.length,
      memoryBytes: totalmem(),
    },
    os: {
      platform: platform(),
      release: short(release()) || 'unknown',
      ...(distro ? { distro } : {}),
      ...(host ? { hostname: host } : {}),
    },
    capabilities: [...new Set(facts.capabilities)].slice(0, 32),
  };
}

/** PRETTY_NAME from os-release(5), if there is one. */
async function readDistro(file: string): Promise<string | undefined> {
  try {
    const text = await readFile(file, 'utf8');
    const match = /^PRETTY_NAME=(?:"([^"]*)"|(.*))$/m.exec(text);
    const name = short(match?.[1] ?? match?.[2] ?? '');
    return name || undefined;
  } catch {
    return undefined;
  }
}
