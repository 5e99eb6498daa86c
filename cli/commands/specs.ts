/** `edgeops plan <file>` and `edgeops apply <file>`: rollout specs as code. */
import type { Command } from 'commander';
import { integer, type Runner } from '../program';
import {
  findActiveRollout,
  previewRollout,
  readSpec,
  renderPlan,
  startRollout,
  watchToEnd,
} from '../rollout-actions';
import { toRolloutRequest } from '../rollout-spec';

const SPEC_HELP = `
A spec file (YAML or JSON) declares one rollout; unknown keys and bad values are refused, naming
the field (e.g. waves[1].percent). Example (examples/rollout-spec.yaml):

  apiVersion: edgeops/v1
  kind: Rollout
  name: eu-west-1.1.0
  release: rel-1.1.0
  target:
    filter: { region: eu-west }
  waves:
    - { count: 6, soakSeconds: 600, maxFailures: 0 }
    - percent: 100
      soakSeconds: 600
      successThreshold: 95
      gates:
        - { metric: memory.used_mib, stat: p95, maxIncreasePercent: 10 }
  policies:
    failurePolicy: rollback   # or halt (default)
    force: false              # take devices another active rollout holds`;

export function registerSpecCommands(program: Command, run: Runner) {
  program
    .command('plan')
    .description('show who lands in which wave and what apply would change; writes nothing')
    .argument('<spec>', 'rollout spec (YAML or JSON)')
    .option('--show <n>', 'device ids shown per wave', integer(0, 100_000), 10)
    .addHelpText('after', SPEC_HELP)
    .action(
      run(async ({ api, out }, [file], o) => {
        const spec = await readSpec(file as string);
        const body = toRolloutRequest(spec);
        const client = await api();
        const [preview, existing] = await Promise.all([
          previewRollout(client, body),
          findActiveRollout(client, body),
        ]);
        out.result(
          {
            name: spec.name,
            request: body,
            preview,
            existingRolloutId: existing?.rolloutId ?? null,
            wouldStart: !existing,
          },
          () => renderPlan(spec, preview, existing, o.show as number),
        );
      }),
    );

  program
    .command('apply')
    .description(
      'start the rollout a spec declares, unless one of the same release and target is already active',
    )
    .argument('<spec>', 'rollout spec (YAML or JSON)')
    .option('--watch', 'then watch it to its end (exit code as `rollouts watch`)')
    .option('--interval <seconds>', 'seconds between polls with --watch', integer(1, 300), 2)
    .addHelpText(
      'after',
      `
Idempotent by release and target: the API keeps no spec name or client token, so apply looks
through the newest 100 rollouts for an active one (running, pausing, paused, awaiting approval)
of the same release and target and, if there is one, starts nothing and names it.
${SPEC_HELP}`,
    )
    .action(
      run(async (scope, [file], o) => {
        const spec = await readSpec(file as string);
        const body = toRolloutRequest(spec);
        const client = await scope.api();
        const existing = await findActiveRollout(client, body);
        const rollout = existing ?? (await startRollout(client, body)).rollout;
        if (o.watch && !scope.out.json) {
          scope.out.note(
            existing
              ? `${rollout.rolloutId} was started before (${existing.status}); watching it.`
              : `Started ${rollout.rolloutId}.`,
          );
          return watchToEnd(scope, rollout.rolloutId, { intervalMs: (o.interval as number) * 1000 });
        }
        scope.out.result({ name: spec.name, started: !existing, rollout }, () =>
          existing
            ? `Nothing started: ${existing.rolloutId} (${existing.status}) already rolls ${existing.releaseId} out to this target.`
            : `Started ${rollout.rolloutId} (${spec.name}): watch it with edgeops rollouts watch ${rollout.rolloutId}`,
        );
      }),
    );
}
