/**
 * `edgeops rollouts watch`: each wave's funnel, redrawn in place on a terminal and as plain
 * timestamped frames (only when something changed) when the output is a file or a pipe, then the
 * outcome, with the halt reason and the devices that failed.
 */
import { FUNNEL_STAGES, type FunnelStage } from '../functions/domain/rollout';
import type { Writer } from './output';

/** `GET /rollouts/{id}` as far as the funnel needs it (rollout-view.ts has the whole answer). */
export interface RolloutStatusView {
  readonly rolloutId: string;
  readonly releaseId: string;
  readonly version: string;
  readonly operation?: string;
  readonly status: string;
  readonly haltReason: string | null;
  readonly currentWave: number;
  readonly waves: readonly {
    readonly wave: number;
    readonly status: string;
    readonly deviceCount: number;
    readonly requireApproval?: boolean;
    readonly funnel?: Partial<Record<FunnelStage, number>>;
  }[];
}

/** A device that did not take the release, from `GET /rollouts/{id}/devices?stage=…`. */
export interface FailedDevice {
  readonly deviceId: string;
  readonly stage: string;
  readonly wave?: number;
  readonly reason?: string | null;
}

export const ACTIVE_STATUSES = ['running', 'pausing', 'paused', 'awaiting-approval'];
export const isFinished = (status: string) => !ACTIVE_STATUSES.includes(status);

const IN_FLIGHT: readonly FunnelStage[] = ['queued', 'downloading', 'installing', 'rebooting'];

/**
 * A bar of `width` cells: healthy `#`, failed or rolled back `x`, on its way `~`, not started `.`.
 * Each kind gets its share rounded, with at least one cell when it has any device.
 */
export function funnelBar(
  funnel: Partial<Record<FunnelStage, number>>,
  deviceCount: number,
  width = 20,
): string {
  const count = (stages: readonly FunnelStage[]) => stages.reduce((sum, s) => sum + (funnel[s] ?? 0), 0);
  const kinds: [string, number][] = [
    ['#', count(['healthy'])],
    ['x', count(['failed', 'rolled-back'])],
    ['~', count(IN_FLIGHT)],
  ];
  const total = Math.max(deviceCount, 1);
  const cells = kinds.map(([, n]) => (n === 0 ? 0 : Math.max(1, Math.round((n / total) * width))));
  // Rounding up the small kinds may overfill the bar: take the excess from the largest.
  for (let excess = cells.reduce((a, b) => a + b, 0) - width; excess > 0; excess--) {
    const largest = cells.indexOf(Math.max(...cells));
    cells[largest] = (cells[largest] ?? 1) - 1;
  }
  const bar = kinds.map(([mark], i) => mark.repeat(cells[i] ?? 0)).join('');
  const used = bar.length;
  return `[${bar}${'.'.repeat(width - used)}]`;
}

/** One line per wave, under a heading line for the rollout. */
export function renderFunnel(view: RolloutStatusView, options: { width?: number } = {}): string[] {
  const waves = view.waves.length;
  const heading =
    `rollout ${view.rolloutId}  ${view.releaseId} (${view.version})` +
    `${view.operation && view.operation !== 'install' ? ` ${view.operation}` : ''}  ${view.status}` +
    `${isFinished(view.status) ? '' : `  wave ${Math.max(view.currentWave, 1)} of ${waves}`}`;
  const countWidth = Math.max(...view.waves.map((w) => String(w.deviceCount).length), 1);
  const lines = view.waves.map((w) => {
    const f = w.funnel ?? {};
    const stages = FUNNEL_STAGES.map((s) => `${s} ${f[s] ?? 0}`).join('  ');
    return (
      `  wave ${w.wave}  ${w.status.padEnd(9)} ${String(w.deviceCount).padStart(countWidth)} devices ` +
      `${funnelBar(f, w.deviceCount)}  ${stages}${w.requireApproval ? '  (approval)' : ''}`
    );
  });
  const all = [heading, ...lines];
  const width = options.width;
  return width ? all.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line)) : all;
}

/** The last lines: the outcome, why it stopped, and which devices failed. */
export function renderOutcome(
  view: RolloutStatusView,
  failed: readonly FailedDevice[],
  shownLimit = 20,
): string[] {
  const total = view.waves.reduce((sum, w) => sum + w.deviceCount, 0);
  const lines: string[] = [];
  if (view.status === 'succeeded') lines.push(`Succeeded: ${total} devices on ${view.version}.`);
  else if (view.status === 'halted') lines.push(`Halted: ${view.haltReason ?? 'no reason given'}`);
  else if (view.status === 'aborted') lines.push(`Aborted${view.haltReason ? `: ${view.haltReason}` : '.'}`);
  else if (view.status === 'failed') lines.push(`Failed: ${view.haltReason ?? 'the rollout run broke'}`);
  else lines.push(`Rollout ${view.status}${view.haltReason ? `: ${view.haltReason}` : ''}`);
  if (failed.length > 0) {
    const shown = failed
      .slice(0, shownLimit)
      .map(
        (d) =>
          `  ${d.deviceId}  ${d.stage}${d.wave ? `  wave ${d.wave}` : ''}${d.reason ? `  ${d.reason}` : ''}`,
      );
    lines.push(`Devices that did not take ${view.version}:`, ...shown);
    if (failed.length > shownLimit) lines.push(`  … and ${failed.length - shownLimit} more`);
  }
  return lines;
}

/** Exit code of a watched rollout: 0 only when it succeeded. */
export const outcomeExitCode = (status: string) => (status === 'succeeded' ? 0 : 1);

/**
 * Draws frames: on a terminal, each frame replaces the previous one (cursor up and clear); else
 * a frame is written, with the time, only when it differs from the last.
 */
export class FunnelScreen {
  #lastFrame = '';
  #drawnLines = 0;

  constructor(
    private readonly out: Writer,
    private readonly tty: boolean,
    private readonly now: () => Date = () => new Date(),
    private readonly columns?: number,
  ) {}

  draw(view: RolloutStatusView): void {
    const lines = renderFunnel(view, this.tty && this.columns ? { width: this.columns } : {});
    const frame = lines.join('\n');
    if (this.tty) {
      // Cursor to the start of the first line drawn, clear to the end of the screen, redraw.
      const up = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}F\x1b[0J` : '';
      this.out.write(`${up}${frame}\n`);
      this.#drawnLines = lines.length;
    } else if (frame !== this.#lastFrame) {
      this.out.write(`${this.now().toISOString().slice(11, 19)}  ${frame}\n`);
    }
    this.#lastFrame = frame;
  }
}

export interface WatchPorts {
  readonly getRollout: () => Promise<RolloutStatusView>;
  /** Devices that failed or rolled back (a bounded page). */
  readonly failedDevices: () => Promise<FailedDevice[]>;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
}

/**
 * Polls the rollout until it ends (or `timeoutMs` passes), drawing each state, and returns the
 * final view with its failed devices. A poll that fails for the network is tried again at the
 * next tick; an API refusal ends the watch.
 */
export async function watchRollout(
  ports: WatchPorts,
  options: { intervalMs: number; timeoutMs?: number; draw?: (view: RolloutStatusView) => void },
): Promise<{ view: RolloutStatusView; failed: FailedDevice[]; timedOut: boolean }> {
  const started = ports.now().getTime();
  for (;;) {
    const view = await ports.getRollout();
    options.draw?.(view);
    if (isFinished(view.status)) {
      const failed = await ports.failedDevices();
      return { view, failed, timedOut: false };
    }
    if (options.timeoutMs !== undefined && ports.now().getTime() - started >= options.timeoutMs)
      return { view, failed: [], timedOut: true };
    await ports.sleep(options.intervalMs);
  }
}
