import { link, type Page } from '../app';
import { badge, facts, h, replaceChildren, table, when } from '../dom';
import type { Alert, Device, TelemetryWindow } from '../types';

const number = (value: number | undefined) =>
  value === undefined ? '—' : Number.isInteger(value) ? String(value) : value.toFixed(2);

/** `GET /devices/{id}` and its telemetry (`GET /devices/{id}/telemetry`): latest windows and alerts. */
export const devicePage: Page = async (ctx, main) => {
  const deviceId = decodeURIComponent(ctx.path[1] ?? '');
  ctx.title(`Device ${deviceId}`);
  const id = encodeURIComponent(deviceId);
  const [device, telemetry] = await Promise.all([
    ctx.api.get<Device>(`devices/${id}`),
    ctx.api.get<{ windows: TelemetryWindow[]; alerts: Alert[] }>(`devices/${id}/telemetry`, { limit: 10 }),
  ]);
  const metricNames = [...new Set(telemetry.windows.flatMap((w) => Object.keys(w.metrics)))]
    .sort()
    .slice(0, 5);

  replaceChildren(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: link('devices') }, 'Devices'), ' / ', deviceId),
    h('h1', { tabindex: -1 }, deviceId),
    facts([
      ['Site', device.site],
      ['Region', device.region],
      ['Hardware type', device.hardwareType],
      ['Firmware', device.firmwareVersion ?? '—'],
      [
        'Connection',
        h('span', null, badge(device.connection.state), ` since ${when(device.connection.changedAt)}`),
      ],
      ['Health', h('span', null, badge(device.health ?? 'unknown'), ` at ${when(device.healthAt)}`)],
      [
        'Anomaly',
        device.anomaly
          ? `${device.anomaly.metric} unlike its cohort (score ${number(device.anomaly.score)}) since ${when(device.anomaly.since)}`
          : 'none',
      ],
      ['Registered', when(device.registeredAt)],
      ['Last seen', when(device.lastSeenAt)],
    ]),
    h(
      'section',
      { 'aria-labelledby': 'windows-heading' },
      h('h2', { id: 'windows-heading' }, 'Telemetry'),
      table(
        'Latest telemetry windows, newest first (metric means)',
        ['Window start', 'Seconds', 'Firmware', 'Health', ...metricNames],
        telemetry.windows.map((w) => [
          when(w.start),
          w.seconds,
          w.firmwareVersion,
          badge(w.health),
          ...metricNames.map((m) => number(w.metrics[m]?.mean)),
        ]),
        'No telemetry received yet.',
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'alerts-heading' },
      h('h2', { id: 'alerts-heading' }, 'Alerts'),
      table(
        'Alerts, newest first',
        ['At', 'Kind', 'Severity', 'State', 'Message'],
        telemetry.alerts.map((a) => [when(a.at), a.kind, badge(a.severity), a.state, a.message ?? '—']),
        'No alerts.',
      ),
    ),
  );
  return undefined;
};
