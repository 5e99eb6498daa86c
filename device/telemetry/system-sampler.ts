/**
 * What the device measures about itself, every `sampleEverySeconds`: system metrics from Linux
 * (/proc, statfs, thermal zones) and the application's health from a pluggable check.
 *
 * Pluggable on both ends: the pipeline takes any `MetricSampler` (the simulator injects one with
 * synthetic metrics), and `SystemSampler` takes any `AppHealthCheck` (`app-health-check.ts` has
 * the command and HTTP ones the daemon configures).
 *
 * Every source is read defensively: a file that is missing or does not parse leaves its metric
 * out of the sample (a container without thermal zones, a kernel without MemAvailable), never
 * fails it. The agent adds its own counters on top (`link.reconnects` and its own restarts in
 * `process.restarts`: telemetry-pipeline.ts), whatever the sampler.
 */
import { readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { type HealthState, SYSTEM_METRICS } from '../../contract/telemetry';
import type { Sample } from './window-aggregator';

export type { Sample } from './window-aggregator';

/** Takes one sample at `now` (epoch ms). */
export interface MetricSampler {
  sample(now: number): Promise<Sample>;
}

/** What an application health check says. */
export interface AppHealthReport {
  readonly health: HealthState;
  /** Extra metrics; only names under `app.` are kept (a check must not pose as a system metric). */
  readonly metrics?: Readonly<Record<string, number>>;
  /**
   * The application's restart counter since it was installed or the host booted (systemd's
   * `NRestarts`); the sampler turns it into restarts per sample in `process.restarts`.
   */
  readonly restartsTotal?: number;
  /** Why it is not healthy, for the log. */
  readonly detail?: string;
}

/** Asks the application how it is; aborted (and then unhealthy) past its time. */
export type AppHealthCheck = (signal: AbortSignal) => Promise<AppHealthReport>;

export interface SystemSamplerOptions {
  /** The filesystem holding this dir is the one `disk.used_percent` measures. */
  readonly stateDir: string;
  /** @default always healthy */
  readonly healthCheck?: AppHealthCheck;
  /** The longest a health check may take; past it the verdict is `unhealthy`. @default 5000 */
  readonly healthTimeoutMs?: number;
  /** For tests: where /proc and /sys are. */
  readonly procDir?: string;
  readonly sysDir?: string;
  readonly log?: (message: string) => void;
}

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

export class SystemSampler implements MetricSampler {
  readonly #procDir: string;
  readonly #sysDir: string;
  #previousCpu: CpuTimes | undefined;
  #previousRestartsTotal: number | undefined;
  #lastDetail: string | undefined;

  constructor(private readonly options: SystemSamplerOptions) {
    this.#procDir = options.procDir ?? '/proc';
    this.#sysDir = options.sysDir ?? '/sys';
  }

  async sample(_now: number): Promise<Sample> {
    const [cpu, memory, disk, temperature, uptime, app] = await Promise.all([
      this.#cpuPercent(),
      this.#memory(),
      this.#diskUsedPercent(),
      this.#hottestZone(),
      this.#uptime(),
      this.#appHealth(),
    ]);
    const metrics: Record<string, number> = {};
    if (cpu !== undefined) metrics[SYSTEM_METRICS.cpu] = cpu;
    if (memory) {
      metrics[SYSTEM_METRICS.memory] = memory.usedMib;
      metrics[SYSTEM_METRICS.memoryPercent] = memory.percent;
    }
    if (disk !== undefined) metrics[SYSTEM_METRICS.disk] = disk;
    if (temperature !== undefined) metrics[SYSTEM_METRICS.temperature] = temperature;
    if (uptime !== undefined) metrics[SYSTEM_METRICS.uptime] = uptime;
    metrics[SYSTEM_METRICS.restarts] = this.#restartsSince(app.restartsTotal);
    for (const [name, value] of Object.entries(app.metrics ?? {}))
      if (name.startsWith('app.') && Number.isFinite(value)) metrics[name] = value;
    return { metrics, health: app.health };
  }

  /** Busy share of all cores since the previous sample (none on the first). */
  async #cpuPercent(): Promise<number | undefined> {
    const text = await this.#read(join(this.#procDir, 'stat'));
    const line = text?.split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return undefined;
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return undefined;
    const total = fields.reduce((sum, n) => sum + n, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const now = { busy: total - idle, total };
    const previous = this.#previousCpu;
    this.#previousCpu = now;
    if (!previous || now.total <= previous.total) return undefined;
    return round((100 * (now.busy - previous.busy)) / (now.total - previous.total));
  }

  async #memory(): Promise<{ usedMib: number; percent: number } | undefined> {
    const text = await this.#read(join(this.#procDir, 'meminfo'));
    if (!text) return undefined;
    const kib = (key: string) => {
      const match = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
      return match ? Number(match[1]) : undefined;
    };
    const total = kib('MemTotal');
    const available = kib('MemAvailable');
    if (!total || available === undefined) return undefined;
    const used = Math.max(0, total - available);
    return { usedMib: round(used / 1024), percent: round((100 * used) / total) };
  }

  /** As df computes it: used / (used + available to unprivileged users). */
  async #diskUsedPercent(): Promise<number | undefined> {
    try {
      const stats = await statfs(this.options.stateDir);
      const used = stats.blocks - stats.bfree;
      const usable = used + stats.bavail;
      return usable > 0 ? round((100 * used) / usable) : undefined;
    } catch {
      return undefined;
    }
  }

  async #hottestZone(): Promise<number | undefined> {
    const dir = join(this.#sysDir, 'class', 'thermal');
    const zones = await readdir(dir).catch(() => [] as string[]);
    let hottest: number | undefined;
    for (const zone of zones.filter((name) => name.startsWith('thermal_zone'))) {
      const milli = Number((await this.#read(join(dir, zone, 'temp')))?.trim());
      // Some drivers report an error code or nonsense when the sensor is off.
      if (!Number.isFinite(milli) || milli <= -273_000 || milli > 200_000) continue;
      const celsius = milli / 1000;
      if (hottest === undefined || celsius > hottest) hottest = celsius;
    }
    return hottest === undefined ? undefined : round(hottest, 1);
  }

  async #uptime(): Promise<number | undefined> {
    const seconds = Number((await this.#read(join(this.#procDir, 'uptime')))?.split(/\s+/)[0]);
    return Number.isFinite(seconds) && seconds >= 0 ? Math.floor(seconds) : undefined;
  }

  async #appHealth(): Promise<AppHealthReport> {
    const check = this.options.healthCheck;
    if (!check) return { health: 'healthy' };
    const timeoutMs = this.options.healthTimeoutMs ?? 5_000;
    const signal = AbortSignal.timeout(timeoutMs);
    let report: AppHealthReport;
    try {
      report = await Promise.race([
        check(signal),
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error(`no answer within ${timeoutMs} ms`)), {
            once: true,
          }),
        ),
      ]);
    } catch (error) {
      report = { health: 'unhealthy', detail: `health check: ${(error as Error).message}` };
    }
    // Logged when it changes, not every 10 s.
    const detail = report.health === 'healthy' ? undefined : `${report.health}: ${report.detail ?? ''}`;
    if (detail !== this.#lastDetail && detail) this.options.log?.(`application ${detail}`);
    this.#lastDetail = detail;
    return report;
  }

  /** Restarts since the previous sample from a counter that only grows (a drop: it was reset). */
  #restartsSince(total: number | undefined): number {
    if (total === undefined || !Number.isFinite(total) || total < 0) return 0;
    const previous = this.#previousRestartsTotal;
    this.#previousRestartsTotal = total;
    if (previous === undefined) return 0;
    return total >= previous ? total - previous : total;
  }

  async #read(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  }
}
