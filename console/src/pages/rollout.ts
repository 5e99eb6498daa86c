import { FUNNEL_STAGES } from '../../../functions/domain/rollout';
import { ApiError } from '../api';
import { link, messageOf, type Page, type PageContext } from '../app';
import { badge, facts, h, replaceChildren, table, when } from '../dom';
import { ACTIVE_STATUSES, type RolloutAction, rolloutActions } from '../rollout-actions';
import type { Page as ApiPage, Rollout, Wave } from '../types';

const POLL_MS = 2_000;

const ACTION_LABELS: Record<RolloutAction, string> = {
  pause: 'Pause',
  resume: 'Resume',
  approve: 'Approve next wave',
  abort: 'Abort',
  rollback: 'Roll back',
};

/** Actions that cannot be taken back ask first. */
const CONFIRM: Partial<Record<RolloutAction, string>> = {
  abort: 'Abort this rollout? Devices not yet started stay on their version.',
  rollback: 'Roll back every device this rollout updated to the version it ran before?',
};

/**
 * One rollout, live: its waves' funnels polled every 2 s while it runs, a one-line progress
 * summary in a polite live region (read out when it changes, not on every poll), the halt reason
 * with the devices that failed, and the control buttons the caller's role and the status allow.
 * Regions are updated apart, so a poll never takes the focus from a button.
 */
export const rolloutPage: Page = async (ctx, main) => {
  const rolloutId = ctx.path[1] ?? '';
  ctx.title(`Rollout ${rolloutId}`);
  const status = h('span', { id: 'rollout-status' });
  const progress = h('p', {
    id: 'rollout-progress',
    class: 'progress',
    'aria-live': 'polite',
    'aria-atomic': 'true',
  });
  const halt = h('div', { id: 'halt' });
  const actions = h('div', {
    id: 'rollout-actions',
    class: 'actions',
    role: 'group',
    'aria-label': 'Rollout actions',
  });
  const details = h('div');
  const waves = h('div', { id: 'waves' });
  const actionError = h('p', { class: 'error', role: 'alert' });
  replaceChildren(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: link('rollouts') }, 'Rollouts'), ' / ', rolloutId),
    h('h1', { tabindex: -1 }, `Rollout ${rolloutId} `, status),
    progress,
    halt,
    actions,
    actionError,
    details,
    h('section', { 'aria-labelledby': 'waves-heading' }, h('h2', { id: 'waves-heading' }, 'Waves'), waves),
  );

  let shownActions = '';
  let shownHalt: string | null | undefined;
  const render = async (rollout: Rollout) => {
    replaceChildren(status, badge(rollout.status));
    const line = progressLine(rollout);
    if (progress.textContent !== line) progress.textContent = line;
    if (rollout.haltReason !== shownHalt) {
      shownHalt = rollout.haltReason;
      replaceChildren(halt, rollout.haltReason ? await haltSection(ctx, rollout) : null);
    }
    const allowed = rolloutActions(ctx.role, rollout.status);
    if (allowed.join() !== shownActions) {
      shownActions = allowed.join();
      replaceChildren(
        actions,
        allowed.map((action) =>
          h(
            'button',
            {
              type: 'button',
              class: action === 'abort' || action === 'rollback' ? 'danger' : 'primary',
              'data-action': action,
              onclick: () => void act(action),
            },
            ACTION_LABELS[action],
          ),
        ),
      );
    }
    replaceChildren(details, rolloutFacts(rollout));
    replaceChildren(waves, rollout.waves.map(waveSection));
  };

  const act = async (action: RolloutAction) => {
    const question = CONFIRM[action];
    if (question && !window.confirm(question)) return;
    actionError.textContent = '';
    for (const button of actions.querySelectorAll('button')) button.disabled = true;
    try {
      if (action === 'rollback') {
        const result = await ctx.api.post<{ rollouts: Rollout[]; skipped: unknown[] }>(
          `rollouts/${rolloutId}/rollback`,
        );
        const first = result.rollouts[0];
        ctx.announce(
          first
            ? `Rollback started: ${result.rollouts.map((r) => r.rolloutId).join(', ')}.`
            : 'Nothing to roll back: this rollout updated no device.',
        );
        if (first) ctx.navigate(link(`rollouts/${first.rolloutId}`));
        return;
      }
      const updated = await ctx.api.post<Rollout>(`rollouts/${rolloutId}/${action}`);
      ctx.announce(`${ACTION_LABELS[action]}: rollout is ${updated.status}.`);
      await refresh();
    } catch (error) {
      actionError.textContent =
        error instanceof ApiError ? `${ACTION_LABELS[action]} refused: ${error.message}` : messageOf(error);
    } finally {
      for (const button of actions.querySelectorAll('button')) button.disabled = false;
    }
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const refresh = async () => {
    const rollout = await ctx.api.get<Rollout>(`rollouts/${rolloutId}`);
    await render(rollout);
    return rollout;
  };
  const poll = async () => {
    try {
      const rollout = await refresh();
      if (!ACTIVE_STATUSES.includes(rollout.status)) return;
    } catch {
      // A failed poll (network blip) is retried at the next tick.
    }
    if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
  };
  const first = await refresh();
  if (ACTIVE_STATUSES.includes(first.status)) timer = setTimeout(() => void poll(), POLL_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
};

/** "Wave 2 of 3 running: 7 of 9 healthy, 1 failed." The line the live region reads out. */
export function progressLine(rollout: Rollout): string {
  const index = Math.min(rollout.currentWave, rollout.waves.length) - 1;
  const wave = rollout.waves[Math.max(index, 0)];
  if (!wave) return `Rollout ${rollout.status}.`;
  const funnel = wave.funnel ?? {};
  const failed = (funnel.failed ?? 0) + (funnel['rolled-back'] ?? 0);
  const counts = `${funnel.healthy ?? 0} of ${wave.deviceCount} healthy${failed ? `, ${failed} failed` : ''}`;
  return `Rollout ${rollout.status}. Wave ${wave.wave} of ${rollout.waves.length} ${wave.status}: ${counts}.`;
}

function rolloutFacts(rollout: Rollout) {
  return facts([
    ['Release', `${rollout.version} (${rollout.releaseId})`],
    ['Operation', rollout.operation],
    ['Target', JSON.stringify(rollout.target)],
    ['On failure', rollout.failurePolicy],
    ['Excluded devices', rollout.excludedCount],
    [
      'Rolls back',
      rollout.rollbackOf ? h('a', { href: link(`rollouts/${rollout.rollbackOf}`) }, rollout.rollbackOf) : '—',
    ],
    ['Started', `${when(rollout.createdAt)} by ${rollout.createdBy}`],
    [
      'Audit',
      h('a', { href: link('audit', { rolloutId: rollout.rolloutId }) }, 'Who did what to this rollout'),
    ],
  ]);
}

/** A wave's funnel: one row per stage, the count as text and a bar drawn for the eye only. */
function waveSection(wave: Wave) {
  const funnel = wave.funnel ?? {};
  const headingId = `wave-${wave.wave}-heading`;
  return h(
    'section',
    { class: 'wave', 'aria-labelledby': headingId },
    h('h3', { id: headingId }, `Wave ${wave.wave} `, badge(wave.status)),
    h(
      'p',
      { class: 'muted' },
      `${wave.deviceCount} device(s), soak ${wave.soakSeconds} s, ${wave.maxFailures} failure(s) tolerated`,
      wave.requireApproval ? ', approval required' : '',
      wave.startedAt ? `; started ${when(wave.startedAt)}` : '',
      wave.endedAt ? `, ended ${when(wave.endedAt)}` : '',
      '.',
    ),
    h(
      'table',
      { class: 'funnel' },
      h('caption', { class: 'visually-hidden' }, `Wave ${wave.wave} funnel`),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', { scope: 'col' }, 'Stage'),
          h('th', { scope: 'col' }, 'Devices'),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Share')),
        ),
      ),
      h(
        'tbody',
        null,
        FUNNEL_STAGES.map((stage) => {
          const count = funnel[stage] ?? 0;
          const share = wave.deviceCount ? Math.round((count / wave.deviceCount) * 100) : 0;
          return h(
            'tr',
            { 'data-stage': stage },
            h('th', { scope: 'row' }, stage),
            h('td', { class: 'count' }, count),
            h('td', { class: 'bar-cell', 'aria-hidden': 'true' }, bar(stage, share)),
          );
        }),
      ),
    ),
  );
}

/**
 * A bar `share` percent wide. Set through the CSSOM: the CSP (style-src 'self') refuses style
 * attributes, so `style="width: …"` in markup would be dropped and every bar drawn full.
 */
function bar(stage: string, share: number) {
  const element = h('span', { class: `bar bar-${stage}` });
  element.style.width = `${share}%`;
  return element;
}

/** The halt reason, and the devices that failed or were rolled back (first page of each). */
async function haltSection(ctx: PageContext, rollout: Rollout) {
  const failed = ACTIVE_STATUSES.includes(rollout.status)
    ? []
    : (
        await Promise.all(
          ['failed', 'rolled-back'].map((stage) =>
            ctx.api
              .get<ApiPage<{ deviceId: string; wave: number; stage: string; reason?: string }>>(
                `rollouts/${rollout.rolloutId}/devices`,
                { stage, limit: 20 },
              )
              .then((page) => page.items)
              .catch(() => []),
          ),
        )
      ).flat();
  return h(
    'section',
    { class: 'callout bad', 'aria-labelledby': 'halt-heading' },
    h('h2', { id: 'halt-heading' }, rollout.status === 'aborted' ? 'Why it stopped' : 'Halt reason'),
    h('p', { id: 'halt-reason' }, rollout.haltReason),
    failed.length
      ? table(
          'Devices that failed',
          ['Device', 'Wave', 'Stage', 'Reason'],
          failed.map((d) => [
            h('a', { href: link(`devices/${encodeURIComponent(d.deviceId)}`) }, d.deviceId),
            d.wave,
            d.stage,
            d.reason ?? '—',
          ]),
        )
      : null,
  );
}
