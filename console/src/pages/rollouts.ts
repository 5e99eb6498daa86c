import { ApiError } from '../api';
import { link, messageOf, type Page, type PageContext } from '../app';
import { badge, h, replaceChildren, table, when } from '../dom';
import { ACTIVE_STATUSES, canStartRollouts } from '../rollout-actions';
import type { Page as ApiPage, Release, Rollout, RolloutPreview } from '../types';
import { parseWaves } from '../waves';

const POLL_MS = 5_000;

/** `GET /rollouts` (refreshed while any is active) and, for operators, a form to preview and start one. */
export const rolloutsPage: Page = async (ctx, main) => {
  ctx.title('Rollouts');
  const list = h('div', { id: 'rollout-list' });
  const load = async () => {
    const page = await ctx.api.get<ApiPage<Rollout>>('rollouts', { limit: 25 });
    replaceChildren(
      list,
      table(
        'Rollouts, newest first',
        ['Rollout', 'Release', 'Status', 'Wave', 'Started', 'By'],
        page.items.map((r) => [
          h('a', { href: link(`rollouts/${r.rolloutId}`) }, r.rolloutId),
          `${r.version}${r.operation === 'rollback' ? ' (rollback)' : ''}`,
          badge(r.status),
          `${Math.min(r.currentWave, r.waves.length)} of ${r.waves.length}`,
          when(r.createdAt),
          r.createdBy,
        ]),
        'No rollouts yet.',
      ),
    );
    return page.items.some((r) => ACTIVE_STATUSES.includes(r.status));
  };
  const active = await load();
  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Rollouts'),
    canStartRollouts(ctx.role) ? await startForm(ctx) : null,
    h(
      'section',
      { 'aria-labelledby': 'list-heading' },
      h('h2', { id: 'list-heading' }, 'All rollouts'),
      list,
    ),
  );
  if (!active) return undefined;
  const timer = setInterval(() => {
    load().catch(() => {});
  }, POLL_MS);
  return () => clearInterval(timer);
};

async function startForm(ctx: PageContext) {
  const releases = await ctx.api.get<ApiPage<Release>>('releases', { limit: 50 });
  const errors = h('p', { id: 'start-errors', class: 'error', role: 'alert' });
  const previewOut = h('div', { id: 'preview', 'aria-live': 'polite' });
  const field = (
    name: string,
    label: string,
    attributes: Record<string, string | boolean> = {},
    hint?: string,
  ) =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: `start-${name}` }, label),
      h('input', {
        id: `start-${name}`,
        name,
        autocomplete: 'off',
        ...(hint ? { 'aria-describedby': `start-${name}-hint` } : {}),
        ...attributes,
      }),
      hint ? h('span', { id: `start-${name}-hint`, class: 'hint' }, hint) : null,
    );

  const form = h(
    'form',
    { class: 'start-rollout', 'aria-labelledby': 'start-heading', 'aria-describedby': 'start-errors' },
    h('h2', { id: 'start-heading' }, 'Start a rollout'),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'start-release' }, 'Release'),
      h(
        'select',
        { id: 'start-release', name: 'releaseId', required: true },
        releases.items.map((r) => h('option', { value: r.releaseId }, `${r.version} (${r.releaseId})`)),
      ),
    ),
    h(
      'fieldset',
      null,
      h('legend', null, 'Target: devices matching every field given'),
      field('region', 'Region'),
      field('site', 'Site'),
      field('hardwareType', 'Hardware type'),
      field('currentVersion', 'Current version'),
    ),
    field(
      'waves',
      'Waves',
      { value: '4, 100%', required: true },
      'Device counts or percents, in order: "4, 30%, 100%".',
    ),
    field('soakSeconds', 'Soak seconds per wave', { type: 'number', min: '0', value: '20', required: true }),
    field('maxFailures', 'Failures tolerated per wave', {
      type: 'number',
      min: '0',
      value: '0',
      required: true,
    }),
    h(
      'div',
      { class: 'field checkbox' },
      h('input', { id: 'start-approval', type: 'checkbox', name: 'requireApproval', value: 'true' }),
      h('label', { for: 'start-approval' }, 'Wait for approval after each wave'),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'start-policy' }, 'On failure'),
      h(
        'select',
        { id: 'start-policy', name: 'failurePolicy' },
        h('option', { value: 'halt' }, 'Halt'),
        h('option', { value: 'rollback' }, 'Halt and roll back'),
      ),
    ),
    errors,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', id: 'preview-rollout' }, 'Preview'),
      h('button', { type: 'submit', class: 'primary' }, 'Start rollout'),
    ),
    previewOut,
  );

  const request = () => {
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const filter: Record<string, string> = {};
    for (const name of ['region', 'site', 'hardwareType', 'currentVersion'])
      if (text(name)) filter[name] = text(name);
    if (Object.keys(filter).length === 0)
      throw new Error('Target: give at least one of region, site, hardware type or current version');
    const common = {
      soakSeconds: Number(text('soakSeconds')),
      maxFailures: Number(text('maxFailures')),
      requireApproval: data.get('requireApproval') === 'true',
    };
    return {
      releaseId: text('releaseId'),
      target: { filter },
      waves: parseWaves(text('waves')).map((size) => ({ ...size, ...common })),
      failurePolicy: text('failurePolicy'),
    };
  };
  const run = async (button: HTMLButtonElement, work: () => Promise<void>) => {
    errors.textContent = '';
    button.disabled = true;
    try {
      await work();
    } catch (error) {
      errors.textContent = error instanceof ApiError ? `The API refused: ${error.message}` : messageOf(error);
    } finally {
      button.disabled = false;
    }
  };

  const previewButton = form.querySelector<HTMLButtonElement>('#preview-rollout');
  previewButton?.addEventListener('click', () =>
    run(previewButton, async () => {
      const plan = await ctx.api.post<RolloutPreview>('rollouts/preview', request());
      replaceChildren(
        previewOut,
        h('h3', null, `Preview: ${plan.version}`),
        h(
          'ol',
          null,
          plan.waves.map((w) => h('li', null, `Wave ${w.wave}: ${w.deviceIds.length} device(s)`)),
        ),
        plan.excluded.length
          ? h('p', null, `${plan.excluded.length} device(s) excluded (in another rollout).`)
          : null,
      );
    }),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const submit = form.querySelector<HTMLButtonElement>('button[type=submit]');
    if (!submit) return;
    void run(submit, async () => {
      const { rollout } = await ctx.api.post<{ rollout: Rollout }>('rollouts', request());
      ctx.announce(`Rollout ${rollout.rolloutId} started.`);
      ctx.navigate(link(`rollouts/${rollout.rolloutId}`));
    });
  });
  return h('section', { class: 'panel' }, form);
}
