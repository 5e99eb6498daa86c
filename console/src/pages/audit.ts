import { link, type Page } from '../app';
import { h, replaceChildren, table, when } from '../dom';

interface AuditEntry {
  readonly at: string;
  readonly requestId: string;
  readonly actor: { readonly username: string };
  readonly method: string;
  readonly route: string;
  readonly pathParameters: Record<string, string>;
  readonly status: number;
  readonly deviceId: string | null;
  readonly rolloutId: string | null;
}

const FILTERS = [
  ['actor', 'Who (user name)'],
  ['rolloutId', 'Rollout id'],
  ['deviceId', 'Device id'],
] as const;

/** The route with its path parameters filled in: `POST /rollouts/ro-…/pause`. */
const action = (e: AuditEntry) =>
  `${e.method} ${e.route.replace(/\{(\w+)\}/g, (_, name: string) => e.pathParameters[name] ?? `{${name}}`)}`;

/**
 * `GET /audit`: who did what and when, newest first (the API's default range: the last 7 days),
 * filtered by who, rollout or device. Filters live in the URL, as on the device list.
 */
export const auditPage: Page = async (ctx, main) => {
  ctx.title('Audit trail');
  const filters: Record<string, string | undefined> = {};
  for (const [name] of FILTERS) filters[name] = ctx.query.get(name) ?? undefined;
  const cursor = ctx.query.get('cursor') ?? undefined;
  const page = await ctx.api.get<{
    items: AuditEntry[];
    from: string;
    to: string;
    nextCursor: string | null;
  }>('audit', { ...filters, cursor, limit: 50 });

  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the audit trail' },
    FILTERS.map(([name, label]) =>
      h(
        'div',
        { class: 'field' },
        h('label', { for: `audit-${name}` }, label),
        h('input', { id: `audit-${name}`, name, value: filters[name] ?? '', autocomplete: 'off' }),
      ),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h('a', { href: link('audit'), class: 'button' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const query: Record<string, string> = {};
    for (const [name] of FILTERS) {
      const value = String(data.get(name) ?? '').trim();
      if (value) query[name] = value;
    }
    ctx.navigate(link('audit', query));
  });

  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Audit trail'),
    h('p', { class: 'muted' }, `Operator actions from ${when(page.from)} to ${when(page.to)}, newest first.`),
    form,
    table(
      'Operator actions',
      ['When', 'Who', 'Action', 'Status', 'About', 'Request id'],
      page.items.map((e) => [
        when(e.at),
        e.actor.username,
        h('code', null, action(e)),
        String(e.status),
        e.rolloutId
          ? h('a', { href: link(`rollouts/${e.rolloutId}`) }, e.rolloutId)
          : e.deviceId
            ? h('a', { href: link(`devices/${encodeURIComponent(e.deviceId)}`) }, e.deviceId)
            : '—',
        h('code', null, e.requestId),
      ]),
      'No operator action in this range matches.',
    ),
    h(
      'nav',
      { 'aria-label': 'Audit pages', class: 'pager' },
      cursor ? h('a', { href: link('audit', filters), class: 'button' }, 'First page') : null,
      page.nextCursor
        ? h(
            'a',
            { href: link('audit', { ...filters, cursor: page.nextCursor }), class: 'button' },
            'Next page',
          )
        : null,
    ),
  );
  return undefined;
};
