/** `edgeops devices list|show`: the registry, with the API's filters and its cursor. */
import { type Command, Option } from 'commander';
import type { DeviceListQuery, DeviceView } from '../../operator-client/operator-api-client';
import { table } from '../output';
import { integer, type Runner } from '../program';

/** Pages `--all` follows at most: a fleet listing is the caller's choice, but not an unbounded one. */
const MAX_PAGES = 1000;

const row = (d: DeviceView) => [
  d.deviceId,
  d.hardwareType,
  d.site,
  d.region,
  d.firmwareVersion ?? '-',
  d.connection.state,
  d.health ?? '-',
  d.lastSeenAt ?? '-',
];

export function registerDeviceCommands(program: Command, run: Runner) {
  const devices = program.command('devices').description('the device registry');

  devices
    .command('list')
    .description('list devices, filtered as GET /devices allows (a page at a time; --all follows the cursor)')
    .option('--site <site>', 'devices at this site')
    .option('--region <region>', 'devices in this region')
    .option('--hardware-type <type>', 'devices of this hardware type')
    .option('--version <version>', 'the firmware version devices run')
    .addOption(
      new Option('--connection-state <state>', 'connected now or not').choices([
        'connected',
        'disconnected',
        'unknown',
      ]),
    )
    .addOption(
      new Option('--health <health>', 'health of the latest telemetry window').choices([
        'healthy',
        'degraded',
        'unhealthy',
        'unknown',
      ]),
    )
    .option('--anomalous', 'only devices the fleet analysis flags')
    .option('--limit <n>', 'devices per page (1-100)', integer(1, 100))
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--all', 'follow nextCursor to the end')
    .action(
      run(async ({ api, out }, _args, o) => {
        const client = await api();
        const query: DeviceListQuery = {
          ...(o.site ? { site: String(o.site) } : {}),
          ...(o.region ? { region: String(o.region) } : {}),
          ...(o.hardwareType ? { hardwareType: String(o.hardwareType) } : {}),
          ...(o.version ? { version: String(o.version) } : {}),
          ...(o.connectionState
            ? { connectionState: o.connectionState as DeviceListQuery['connectionState'] }
            : {}),
          ...(o.health ? { health: o.health as DeviceListQuery['health'] } : {}),
          ...(o.anomalous ? { anomalous: true as const } : {}),
          ...(o.limit ? { limit: o.limit as number } : {}),
        };
        const items: DeviceView[] = [];
        let cursor = o.cursor as string | undefined;
        let pages = 0;
        do {
          const page = await client.listDevices({ ...query, ...(cursor ? { cursor } : {}) });
          items.push(...page.items);
          cursor = page.nextCursor ?? undefined;
          pages++;
        } while (o.all && cursor && pages < MAX_PAGES);
        out.result({ items, nextCursor: cursor ?? null }, () => [
          ...table(
            ['DEVICE', 'HARDWARE', 'SITE', 'REGION', 'VERSION', 'CONNECTION', 'HEALTH', 'LAST SEEN'],
            items.map(row),
          ),
          ...(cursor ? [`(more: --cursor ${cursor})`] : []),
        ]);
      }),
    );

  devices
    .command('show')
    .description('one device: version, connection, health, metrics, anomaly')
    .argument('<deviceId>')
    .action(
      run(async ({ api, out }, [deviceId]) => {
        const device = await (await api()).getDevice(deviceId as string);
        out.result(device, () => {
          const lines = [
            `device      ${device.deviceId}`,
            `hardware    ${device.hardwareType}`,
            `site        ${device.site} (${device.region})`,
            `firmware    ${device.firmwareVersion ?? 'not reported'}`,
            `connection  ${device.connection.state}${device.connection.changedAt ? ` since ${device.connection.changedAt}` : ''}`,
            `last seen   ${device.lastSeenAt ?? 'never'}`,
            `health      ${device.health ?? 'unknown'}${device.healthAt ? ` at ${device.healthAt}` : ''}`,
            `registered  ${device.registeredAt}`,
          ];
          for (const [metric, m] of Object.entries(device.metrics ?? {}))
            lines.push(`  ${metric}  p95 ${m.p95}  mean ${m.mean}  max ${m.max}`);
          if (device.anomaly)
            lines.push(
              `anomaly     ${device.anomaly.metric} score ${device.anomaly.score} since ${device.anomaly.since ?? '?'}`,
            );
          return lines;
        });
      }),
    );
}
