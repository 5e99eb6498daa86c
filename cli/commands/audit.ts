/** `edgeops audit`: the operator audit trail (`GET /audit`): who did what, when, with which request id. */
import type { Command } from 'commander';
import type { AuditEntry } from '../../functions/domain/audit';
import { ApiError } from '../../operator-client/operator-api-client';
import { table } from '../output';
import { integer, type Runner } from '../program';

interface AuditPage {
  readonly items: AuditEntry[];
  readonly from: string;
  readonly to: string;
  readonly nextCursor: string | null;
}

/** `/rollouts/{rolloutId}/pause` with `{rolloutId: ro-1}` → `/rollouts/ro-1/pause`. */
const fillRoute = (entry: AuditEntry) =>
  entry.route.replace(/\{(\w+)\}/g, (whole, name: string) => entry.pathParameters[name] ?? whole);

export function registerAuditCommand(program: Command, run: Runner) {
  program
    .command('audit')
    .description(
      'operator actions from the audit trail (GET /audit), newest first: who, when, what, request id',
    )
    .option('--from <time>', 'ISO 8601 start (default: 7 days ago)')
    .option('--to <time>', 'ISO 8601 end (default: now)')
    .option('--actor <user>', 'a Cognito user name or sub')
    .option('--device <deviceId>', 'actions about this device')
    .option('--rollout <rolloutId>', 'actions about this rollout')
    .option('--limit <n>', 'entries per page (1-100)', integer(1, 100))
    .option('--cursor <cursor>', 'continue from a previous page (same filters)')
    .action(
      run(async ({ api, out }, _args, o) => {
        const query = new URLSearchParams(
          Object.entries({
            from: o.from,
            to: o.to,
            actor: o.actor,
            deviceId: o.device,
            rolloutId: o.rollout,
            limit: o.limit,
            cursor: o.cursor,
          }).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, String(v)]])),
        );
        const response = await (await api()).request<AuditPage>(
          'GET',
          `audit${query.size > 0 ? `?${query}` : ''}`,
        );
        if (response.status !== 200) throw new ApiError(response.status, response.body);
        const page = response.body;
        out.result(page, () => [
          ...table(
            ['AT', 'ACTOR', 'ACTION', 'STATUS', 'REQUEST'],
            page.items.map((e) => [
              e.at,
              e.actor.username,
              `${e.method} ${fillRoute(e)}`,
              String(e.status),
              e.requestId,
            ]),
          ),
          ...(page.nextCursor
            ? [`(a filtered page may be short; more: --cursor ${page.nextCursor})`]
            : page.items.length === 0
              ? [`(nothing from ${page.from} to ${page.to})`]
              : []),
        ]);
      }),
    );
}
