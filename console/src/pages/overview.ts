import { link, type Page } from '../app';
import { h, replaceChildren, table, when } from '../dom';
import type { FleetSummary, SummaryGroup } from '../types';

const GROUPINGS: Record<string, string> = {
  site: 'Site',
  region: 'Region',
  hardwareType: 'Hardware type',
  version: 'Firmware version',
  'site,version': 'Site and version',
};

/** `GET /fleet/summary`: fleet totals, then the same statistics by a grouping the operator picks. */
export const overviewPage: Page = async (ctx, main) => {
  ctx.title('Fleet overview');
  const groupBy = ctx.query.get('groupBy') ?? 'site';
  const [totals, grouped] = await Promise.all([
    ctx.api.get<FleetSummary>('fleet/summary'),
    ctx.api.get<FleetSummary>('fleet/summary', { groupBy: GROUPINGS[groupBy] ? groupBy : 'site' }),
  ]);
  const fleet = totals.groups[0];
  const select = h(
    'select',
    { id: 'group-by', name: 'groupBy' },
    Object.entries(GROUPINGS).map(([value, label]) =>
      h('option', { value, selected: value === groupBy }, label),
    ),
  );
  select.addEventListener('change', () => ctx.navigate(link('', { groupBy: select.value })));

  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Fleet overview'),
    h(
      'p',
      { class: 'muted' },
      totals.analyzedAt
        ? `From the fleet analysis; every cohort analyzed at ${when(totals.analyzedAt)} or later.`
        : 'The fleet analysis has not visited any cohort yet: counts appear after its first run.',
      totals.pendingCohorts > 0 ? ` ${totals.pendingCohorts} cohort(s) not analyzed yet.` : '',
    ),
    h(
      'section',
      { 'aria-labelledby': 'totals-heading' },
      h('h2', { id: 'totals-heading' }, 'Totals'),
      fleet ? cards(fleet) : h('p', { class: 'empty' }, 'No devices registered yet.'),
    ),
    h(
      'section',
      { 'aria-labelledby': 'groups-heading' },
      h('h2', { id: 'groups-heading' }, 'By group'),
      h('div', { class: 'field inline' }, h('label', { for: 'group-by' }, 'Group by'), select),
      table(
        `Fleet by ${GROUPINGS[groupBy] ?? groupBy}`,
        ['Group', 'Devices', 'Connected', 'Healthy', 'Degraded', 'Unhealthy', 'Unknown', 'Anomalous'],
        grouped.groups.map((g) => [
          groupLink(g),
          g.devices,
          g.connected ?? '—',
          g.health?.healthy ?? '—',
          g.health?.degraded ?? '—',
          g.health?.unhealthy ?? '—',
          g.health?.unknown ?? '—',
          g.anomalous ?? '—',
        ]),
        'No cohorts yet.',
      ),
    ),
  );
  return undefined;
};

function cards(fleet: SummaryGroup) {
  const card = (label: string, value: number | undefined, tone = '') =>
    h(
      'li',
      { class: `card ${tone}` },
      h('span', { class: 'card-value' }, value ?? '—'),
      h('span', null, label),
    );
  return h(
    'ul',
    { class: 'cards', 'aria-label': 'Fleet totals' },
    card('devices', fleet.devices),
    card('connected', fleet.connected),
    card('healthy', fleet.health?.healthy, 'good'),
    card('degraded', fleet.health?.degraded, 'warn'),
    card('unhealthy', fleet.health?.unhealthy, 'bad'),
    card('anomalous', fleet.anomalous, 'warn'),
  );
}

/** The group's name, linking to the device list filtered the same way. */
function groupLink(group: SummaryGroup) {
  const label = Object.values(group.key).join(' · ') || 'All devices';
  return h('a', { href: link('devices', group.key) }, label);
}
