/**
 * `edgeops rollouts …`: preview and start from a spec file, read status (a funnel per wave),
 * control (pause, resume, approve, abort, rollback) and watch one live to its end.
 */
import type { Command } from 'commander';
import { ApiError } from '../../operator-client/operator-api-client';
import { EXIT_CODE_HELP } from '../errors';
import { isFinished, type RolloutStatusView, renderFunnel, renderOutcome } from '../funnel';
import { table } from '../output';
import { integer, type Runner } from '../program';
import {
  getRollout,
  previewRollout,
  readSpec,
  renderPlan,
  startRollout,
  watchToEnd,
} from '../rollout-actions';
import { toRolloutRequest } from '../rollout-spec';

const watchOptions = (command: Command) =>
  command
    .option('--interval <seconds>', 'seconds between polls', integer(1, 300), 2)
    .option('--timeout <seconds>', 'give up watching after this long (exit 1)', integer(1, 30 * 86_400));

const watchSettings = (o: Record<string, unknown>) => ({
  intervalMs: (o.interval as number) * 1000,
  ...(o.timeout ? { timeoutMs: (o.timeout as number) * 1000 } : {}),
});

export function registerRolloutCommands(program: Command, run: Runner) {
  const rollouts = program.command('rollouts').description('staged rollouts of a release');

  rollouts
    .command('list')
    .description('rollouts, newest first')
    .option('--limit <n>', 'per page (1-100)', integer(1, 100))
    .option('--cursor <cursor>')
    .action(
      run(async ({ api, out }, _args, o) => {
        const query = new URLSearchParams({
          ...(o.limit ? { limit: String(o.limit) } : {}),
          ...(o.cursor ? { cursor: String(o.cursor) } : {}),
        });
        const response = await (await api()).request<{
          items: (RolloutStatusView & { createdAt: string })[];
          nextCursor: string | null;
        }>('GET', `rollouts${query.size > 0 ? `?${query}` : ''}`);
        if (response.status !== 200) throw new ApiError(response.status, response.body);
        const page = response.body;
        out.result(page, () => [
          ...table(
            ['ROLLOUT', 'RELEASE', 'STATUS', 'WAVE', 'DEVICES', 'CREATED'],
            page.items.map((r) => [
              r.rolloutId,
              r.releaseId,
              r.status,
              `${r.currentWave}/${r.waves.length}`,
              String(r.waves.reduce((s, w) => s + w.deviceCount, 0)),
              r.createdAt,
            ]),
          ),
          ...(page.nextCursor ? [`(more: --cursor ${page.nextCursor})`] : []),
        ]);
      }),
    );

  rollouts
    .command('preview')
    .description('who would land in which wave for a spec file (same as `edgeops plan`); starts nothing')
    .argument('<spec>', 'rollout spec (YAML or JSON)')
    .action(
      run(async ({ api, out }, [file]) => {
        const spec = await readSpec(file as string);
        const preview = await previewRollout(await api(), toRolloutRequest(spec));
        out.result(preview, () => renderPlan(spec, preview, undefined));
      }),
    );

  watchOptions(
    rollouts
      .command('start')
      .description('start the rollout a spec file declares (no idempotency check: see `edgeops apply`)')
      .argument('<spec>', 'rollout spec (YAML or JSON)')
      .option('--watch', 'then watch it to its end (exit code as `rollouts watch`)'),
  ).action(
    run(async (scope, [file], o) => {
      const spec = await readSpec(file as string);
      const { rollout, excluded } = await startRollout(await scope.api(), toRolloutRequest(spec));
      if (o.watch && !scope.out.json) {
        scope.out.note(`Started ${rollout.rolloutId}.`);
        return watchToEnd(scope, rollout.rolloutId, watchSettings(o));
      }
      scope.out.result({ rollout, excluded }, () => [
        `Started ${rollout.rolloutId}: ${rollout.releaseId} over ${rollout.waves.length} wave(s); ${excluded.length} device(s) left out.`,
        `Watch it: edgeops rollouts watch ${rollout.rolloutId}`,
      ]);
    }),
  );

  rollouts
    .command('status')
    .description("the rollout's status, halt reason and each wave's funnel")
    .argument('<rolloutId>')
    .action(
      run(async ({ api, out }, [rolloutId]) => {
        const view = await getRollout(await api(), rolloutId as string);
        out.result(view, () => [
          ...renderFunnel(view),
          ...(isFinished(view.status) ? renderOutcome(view, []) : []),
        ]);
      }),
    );

  rollouts
    .command('devices')
    .description("the rollout's devices: stage, version, reason")
    .argument('<rolloutId>')
    .option('--wave <n>', 'only this wave', integer(1, 10))
    .option(
      '--stage <stage>',
      'pending, queued, downloading, installing, rebooting, healthy, failed, rolled-back',
    )
    .option('--limit <n>', 'per page (1-100)', integer(1, 100))
    .option('--cursor <cursor>')
    .action(
      run(async ({ api, out }, [rolloutId], o) => {
        const query = new URLSearchParams(
          Object.entries({ wave: o.wave, stage: o.stage, limit: o.limit, cursor: o.cursor }).flatMap(
            ([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]]),
          ),
        );
        const response = await (await api()).request<{
          items: {
            deviceId: string;
            wave: number;
            stage: string;
            reason?: string;
            firmwareVersion?: string;
          }[];
          nextCursor: string | null;
        }>(
          'GET',
          `rollouts/${encodeURIComponent(rolloutId as string)}/devices${query.size > 0 ? `?${query}` : ''}`,
        );
        if (response.status !== 200) throw new ApiError(response.status, response.body);
        const page = response.body;
        out.result(page, () => [
          ...table(
            ['DEVICE', 'WAVE', 'STAGE', 'REASON'],
            page.items.map((d) => [d.deviceId, String(d.wave), d.stage, d.reason ?? '']),
          ),
          ...(page.nextCursor ? [`(more: --cursor ${page.nextCursor})`] : []),
        ]);
      }),
    );

  for (const [action, what] of [
    ['pause', 'stop after the running wave; resume continues'],
    ['resume', 'continue a paused rollout'],
    ['approve', 'let a wave that waits for approval go on'],
    ['abort', 'cancel what has not started and stop for good'],
  ] as const) {
    rollouts
      .command(action)
      .description(what)
      .argument('<rolloutId>')
      .action(
        run(async ({ api, out }, [rolloutId]) => {
          const response = await (await api()).request<RolloutStatusView>(
            'POST',
            `rollouts/${encodeURIComponent(rolloutId as string)}/${action}`,
          );
          if (response.status !== 200) throw new ApiError(response.status, response.body);
          out.result(response.body, () => `${response.body.rolloutId}: ${response.body.status}`);
        }),
      );
  }

  rollouts
    .command('rollback')
    .description('send the devices a finished rollout updated back to their previous release')
    .argument('<rolloutId>')
    .action(
      run(async ({ api, out }, [rolloutId]) => {
        const response = await (await api()).request<{ rollouts: RolloutStatusView[]; skipped: unknown[] }>(
          'POST',
          `rollouts/${encodeURIComponent(rolloutId as string)}/rollback`,
        );
        if (response.status !== 202) throw new ApiError(response.status, response.body);
        out.result(response.body, () => [
          ...response.body.rollouts.map(
            (r) =>
              `Started rollback ${r.rolloutId} to ${r.releaseId} (${r.waves.reduce((s, w) => s + w.deviceCount, 0)} devices)`,
          ),
          ...(response.body.skipped.length > 0 ? [`${response.body.skipped.length} device(s) skipped`] : []),
        ]);
      }),
    );

  watchOptions(
    rollouts
      .command('watch')
      .description(
        'a live funnel per wave until the rollout ends; exit 0 if it succeeded, 1 if it halted, aborted or failed',
      )
      .argument('<rolloutId>')
      .addHelpText(
        'after',
        `
On a terminal the funnel is redrawn in place; piped or redirected, a timestamped frame is written
each time something changes. At the end: the outcome, the halt reason, and the devices that failed
or rolled back. With --json, only the final state is printed.

${EXIT_CODE_HELP}`,
      ),
  ).action(run(async (scope, [rolloutId], o) => watchToEnd(scope, rolloutId as string, watchSettings(o))));
}
