/**
 * What `plan`/`apply` and `rollouts preview|start|watch` share: reading a spec file, asking the API
 * for the plan, finding a rollout a spec already started, and watching one to its end.
 */
import { readFile } from 'node:fs/promises';
import { ApiError, type OperatorApiClient } from '../operator-client/operator-api-client';
import type { CommandScope } from './context';
import { CliError, ExitCode } from './errors';
import {
  type FailedDevice,
  FunnelScreen,
  outcomeExitCode,
  type RolloutStatusView,
  renderOutcome,
  watchRollout,
} from './funnel';
import { parseRolloutSpec, type RolloutSpec, toRolloutRequest } from './rollout-spec';

export type RolloutRequestBody = ReturnType<typeof toRolloutRequest>;

/** `POST /rollouts/preview`'s answer. */
export interface PreviewView {
  readonly releaseId: string;
  readonly version: string;
  readonly waves: readonly { readonly wave: number; readonly deviceIds: readonly string[] }[];
  readonly excluded: readonly { readonly deviceId: string; readonly reason: string }[];
  readonly strata: { readonly total: number; readonly coveredByCanary: number };
}

/** A rollout as `GET /rollouts` lists it (the fields apply compares). */
export interface ListedRollout extends RolloutStatusView {
  readonly target: unknown;
  readonly createdAt: string;
}

export async function readSpec(file: string): Promise<RolloutSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(
      `${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      ExitCode.usage,
    );
  }
  return parseRolloutSpec(text, file);
}

async function expect<T>(
  client: OperatorApiClient,
  status: number,
  method: string,
  path: string,
  body?: unknown,
) {
  const response = await client.request<T>(method, path, body);
  if (response.status !== status) throw new ApiError(response.status, response.body);
  return response.body;
}

export const previewRollout = (client: OperatorApiClient, body: RolloutRequestBody) =>
  expect<PreviewView>(client, 200, 'POST', 'rollouts/preview', body);

export const startRollout = (client: OperatorApiClient, body: RolloutRequestBody) =>
  expect<{ rollout: RolloutStatusView; excluded: PreviewView['excluded'] }>(
    client,
    201,
    'POST',
    'rollouts',
    body,
  );

export const getRollout = (client: OperatorApiClient, rolloutId: string) =>
  expect<RolloutStatusView & Record<string, unknown>>(
    client,
    200,
    'GET',
    `rollouts/${encodeURIComponent(rolloutId)}`,
  );

/** Key order must not matter when comparing targets. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );

/** Rollouts `apply` looks through for one it started before: the newest page. */
export const APPLY_LOOKBACK = 100;

/**
 * An active rollout (running, pausing, paused, awaiting approval) of the same release to the same
 * target, among the newest {@link APPLY_LOOKBACK}. The API has no client token or rollout name,
 * so this is how `apply` stays idempotent: a second apply finds the first rollout instead of
 * starting another.
 */
export async function findActiveRollout(client: OperatorApiClient, body: RolloutRequestBody) {
  const page = await expect<{ items: ListedRollout[] }>(
    client,
    200,
    'GET',
    `rollouts?limit=${APPLY_LOOKBACK}`,
  );
  const target = canonical(body.target);
  return page.items.find(
    (r) =>
      r.releaseId === body.releaseId &&
      canonical(r.target) === target &&
      ['running', 'pausing', 'paused', 'awaiting-approval'].includes(r.status),
  );
}

const describeTarget = (target: RolloutRequestBody['target']) =>
  'filter' in target
    ? `filter ${Object.entries(target.filter)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`
    : 'thingGroup' in target
      ? `thing group ${target.thingGroup}`
      : `${target.deviceIds.length} listed devices`;

/** Who lands in which wave with which gate, who is left out, and what apply would do. */
export function renderPlan(
  spec: RolloutSpec,
  preview: PreviewView,
  existing: ListedRollout | undefined,
  devicesShown = 10,
): string[] {
  const body = toRolloutRequest(spec);
  const total = preview.waves.reduce((sum, w) => sum + w.deviceIds.length, 0);
  const lines = [
    `Plan ${spec.name}: ${preview.releaseId} (${preview.version}) to ${describeTarget(body.target)}; on failure: ${body.failurePolicy}${body.force ? '; force' : ''}`,
  ];
  preview.waves.forEach((wave, i) => {
    const w = spec.waves[i] ?? spec.waves[spec.waves.length - 1];
    const rules = w
      ? [
          `soak ${w.soakSeconds} s`,
          `success >= ${w.successThreshold}%`,
          `max failures ${w.maxFailures}`,
          ...(w.requireApproval ? ['approval'] : []),
          ...(w.gates ?? []).map(
            (g) =>
              `gate ${g.metric} ${g.stat} ${g.maxIncreasePercent !== undefined ? `<= +${g.maxIncreasePercent}%` : `<= +${g.maxIncrease}`}`,
          ),
        ].join(', ')
      : '';
    const ids = wave.deviceIds;
    lines.push(`  wave ${wave.wave}  ${String(ids.length).padStart(5)} devices  ${rules}`);
    lines.push(
      `    ${ids.slice(0, devicesShown).join(', ')}${ids.length > devicesShown ? `, … (${ids.length - devicesShown} more)` : ''}`,
    );
  });
  if (preview.excluded.length > 0) {
    lines.push(`Left out: ${preview.excluded.length} device(s)`);
    for (const d of preview.excluded.slice(0, devicesShown)) lines.push(`  ${d.deviceId}  ${d.reason}`);
    if (preview.excluded.length > devicesShown)
      lines.push(`  … (${preview.excluded.length - devicesShown} more)`);
  }
  lines.push(
    `The canary covers ${preview.strata.coveredByCanary} of ${preview.strata.total} hardware type × site strata.`,
  );
  lines.push(
    existing
      ? `Apply would start nothing: ${existing.rolloutId} (${existing.status}) already rolls ${existing.releaseId} out to this target.`
      : `Apply would start one rollout: ${total} devices to ${preview.version} in ${preview.waves.length} wave(s).`,
  );
  lines.push('Nothing was written.');
  return lines;
}

/** Watches a rollout to its end; returns the exit code (0 only when it succeeded). */
export async function watchToEnd(
  scope: CommandScope,
  rolloutId: string,
  options: { intervalMs: number; timeoutMs?: number },
): Promise<number> {
  const { ctx, out } = scope;
  const screen = new FunnelScreen(
    ctx.terminal.stdout,
    ctx.terminal.stdoutIsTty,
    ctx.now,
    ctx.terminal.columns,
  );
  let networkFailures = 0;
  const poll = async (): Promise<RolloutStatusView> => {
    for (;;) {
      try {
        const view = await getRollout(await scope.api(), rolloutId);
        networkFailures = 0;
        return view;
      } catch (error) {
        // A dropped connection during a long watch is not the rollout's outcome: try again.
        if (!(error instanceof TypeError) || ++networkFailures > 5) throw error;
        out.note(
          `(API unreachable, trying again: ${(error.cause as Error | undefined)?.message ?? error.message})`,
        );
        await ctx.sleep(options.intervalMs);
      }
    }
  };
  const failedDevices = async (): Promise<FailedDevice[]> => {
    const client = await scope.api();
    const pages = await Promise.all(
      ['failed', 'rolled-back'].map((stage) =>
        expect<{ items: FailedDevice[] }>(
          client,
          200,
          'GET',
          `rollouts/${encodeURIComponent(rolloutId)}/devices?stage=${stage}&limit=50`,
        ),
      ),
    );
    return pages
      .flatMap((p) => p.items)
      .map((d) => ({ deviceId: d.deviceId, stage: d.stage, wave: d.wave, reason: d.reason ?? null }));
  };
  const result = await watchRollout(
    { getRollout: poll, failedDevices, sleep: ctx.sleep, now: ctx.now },
    { ...options, ...(out.json ? {} : { draw: (view) => screen.draw(view) }) },
  );
  if (result.timedOut) {
    out.result({ outcome: 'timed-out', rollout: result.view, failedDevices: [] }, () => [
      `Still ${result.view.status} after the watch's timeout.`,
    ]);
    return ExitCode.failure;
  }
  out.result({ outcome: result.view.status, rollout: result.view, failedDevices: result.failed }, () =>
    renderOutcome(result.view, result.failed),
  );
  return outcomeExitCode(result.view.status);
}
