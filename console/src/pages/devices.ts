import { link, type Page } from '../app';
import { badge, h, replaceChildren, table, when } from '../dom';
import type { Page as ApiPage, Device } from '../types';

const TEXT_FILTERS = [
  ['site', 'Site'],
  ['region', 'Region'],
  ['hardwareType', 'Hardware type'],
  ['version', 'Firmware version'],
] as const;

const CHOICE_FILTERS = [
  ['connectionState', 'Connection', ['connected', 'disconnected', 'unknown']],
  ['health', 'Health', ['healthy', 'degraded', 'unhealthy', 'unknown']],
] as const;

const FILTER_NAMES = [...TEXT_FILTERS.map(([n]) => n), ...CHOICE_FILTERS.map(([n]) => n), 'anomalous'];

/**
 * `GET /devices` with the API's filters, a page at a time. The filters live in the URL, so a
 * filtered list can be bookmarked or shared. A page may be short and still have a next one
 * (the API reads a bounded amount per request).
 */
export const devicesPage: Page = async (ctx, main) => {
  ctx.title('Devices');
  const filters: Record<string, string | undefined> = {};
  for (const name of FILTER_NAMES) filters[name] = ctx.query.get(name) ?? undefined;
  const cursor = ctx.query.get('cursor') ?? undefined;
  const page = await ctx.api.get<ApiPage<Device>>('devices', { ...filters, cursor, limit: 25 });

  const form = h(
    'form',
    { class: 'filters', 'aria-labelledby': 'filters-heading', role: 'search' },
    h('h2', { id: 'filters-heading', class: 'visually-hidden' }, 'Filters'),
    TEXT_FILTERS.map(([name, label]) =>
      h(
        'div',
        { class: 'field' },
        h('label', { for: `filter-${name}` }, label),
        h('input', { id: `filter-${name}`, name, value: filters[name] ?? '', autocomplete: 'off' }),
      ),
    ),
    CHOICE_FILTERS.map(([name, label, values]) =>
      h(
        'div',
        { class: 'field' },
        h('label', { for: `filter-${name}` }, label),
        h(
          'select',
          { id: `filter-${name}`, name },
          h('option', { value: '' }, 'Any'),
          values.map((v) => h('option', { value: v, selected: filters[name] === v }, v)),
        ),
      ),
    ),
    h(
      'div',
      { class: 'field checkbox' },
      h('input', {
        id: 'filter-anomalous',
        type: 'checkbox',
        name: 'anomalous',
        value: 'true',
        checked: filters.anomalous === 'true',
      }),
      h('label', { for: 'filter-anomalous' }, 'Anomalous only'),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h('a', { href: link('devices'), class: 'button' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const query: Record<string, string> = {};
    for (const name of FILTER_NAMES) {
      const value = String(data.get(name) ?? '').trim();
      if (value) query[name] = value;
    }
    ctx.navigate(link('devices', query));
  });

  const active = Object.entries(filters).filter(([, v]) => v);
  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Devices'),
    form,
    h(
      'p',
      { class: 'muted', role: 'status' },
      `${page.items.length} device(s) on this page`,
      active.length ? `, filtered by ${active.map(([k, v]) => `${k} = ${v}`).join(', ')}` : '',
      '.',
    ),
    table(
      'Devices',
      ['Device', 'Site', 'Region', 'Hardware', 'Firmware', 'Connection', 'Health', 'Last seen'],
      page.items.map((d) => [
        h('a', { href: link(`devices/${encodeURIComponent(d.deviceId)}`) }, d.deviceId),
        d.site,
        d.region,
        d.hardwareType,
        d.firmwareVersion ?? '—',
        badge(d.connection.state),
        d.anomaly
          ? h('span', null, badge(d.health ?? 'unknown'), ' ', badge('anomalous'))
          : badge(d.health ?? 'unknown'),
        when(d.lastSeenAt),
      ]),
      'No device matches these filters on this page.',
    ),
    h(
      'nav',
      { 'aria-label': 'Device pages', class: 'pager' },
      cursor ? h('a', { href: link('devices', filters), class: 'button' }, 'First page') : null,
      page.nextCursor
        ? h(
            'a',
            { href: link('devices', { ...filters, cursor: page.nextCursor }), class: 'button' },
            'Next page',
          )
        : null,
    ),
  );
  return undefined;
};
