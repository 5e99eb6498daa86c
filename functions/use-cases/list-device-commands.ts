import { DeviceNotFoundError } from '../domain/errors';
import type { CommandPage, CommandStore } from '../ports/command-store';
import type { FleetStore } from '../ports/fleet-store';

/** A device's commands, newest first, one bounded page (a Query of its partition). */
export const makeListDeviceCommands =
  (ports: { readonly fleet: Pick<FleetStore, 'getDevice'>; readonly commands: Pick<CommandStore, 'list'> }) =>
  async (deviceId: string, query: { limit: number; cursor?: string }): Promise<CommandPage> => {
    if (!(await ports.fleet.getDevice(deviceId))) throw new DeviceNotFoundError(deviceId);
    return ports.commands.list(deviceId, query);
  };
