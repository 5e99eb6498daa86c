import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SYSTEM_METRICS } from '../../contract/telemetry';
import {
  commandHealthCheck,
  httpHealthCheck,
  parseCheckOutput,
} from '../../device/telemetry/app-health-check';
import { SystemSampler } from '../../device/telemetry/system-sampler';

let root: string;
const procDir = () => join(root, 'proc');
const sysDir = () => join(root, 'sys');

const cpuLine = (busy: number, idle: number) => `cpu  ${busy} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 1 2 3 4\n`;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'telemetry-sampler-'));
  await mkdir(procDir(), { recursive: true });
  await writeFile(join(procDir(), 'stat'), cpuLine(1000, 9000));
  await writeFile(
    join(procDir(), 'meminfo'),
    'MemTotal:        4000000 kB\nMemFree:          500000 kB\nMemAvailable:    3000000 kB\n',
  );
  await writeFile(join(procDir(), 'uptime'), '12345.67 40000.00\n');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('SystemSampler', () => {
  it('reads CPU from /proc/stat deltas, memory, disk and uptime; leaves out temperature without thermal zones', async () => {
    const sampler = new SystemSampler({ stateDir: root, procDir: procDir(), sysDir: sysDir() });

    const first = await sampler.sample(Date.now());
    await writeFile(join(procDir(), 'stat'), cpuLine(1300, 9700)); // 300 busy of 1000
    const second = await sampler.sample(Date.now());

    expect(first.metrics[SYSTEM_METRICS.cpu]).toBeUndefined();
    expect(second.metrics[SYSTEM_METRICS.cpu]).toBe(30);
    expect(second.metrics[SYSTEM_METRICS.memory]).toBeCloseTo(976.56, 2);
    expect(second.metrics[SYSTEM_METRICS.memoryPercent]).toBe(25);
    expect(second.metrics[SYSTEM_METRICS.uptime]).toBe(12345);
    expect(second.metrics[SYSTEM_METRICS.disk]).toBeGreaterThanOrEqual(0);
    expect(second.metrics[SYSTEM_METRICS.disk]).toBeLessThanOrEqual(100);
    expect(second.metrics[SYSTEM_METRICS.restarts]).toBe(0);
    expect(SYSTEM_METRICS.temperature in second.metrics).toBe(false);
    expect(second.health).toBe('healthy');
  });

  it('takes the hottest thermal zone and skips one that reports nonsense', async () => {
    for (const [zone, milli] of [
      ['thermal_zone0', '48000'],
      ['thermal_zone1', '71500'],
      ['thermal_zone2', '-2147483648'],
    ] as const) {
      await mkdir(join(sysDir(), 'class', 'thermal', zone), { recursive: true });
      await writeFile(join(sysDir(), 'class', 'thermal', zone, 'temp'), `${milli}\n`);
    }
    const sampler = new SystemSampler({ stateDir: root, procDir: procDir(), sysDir: sysDir() });

    expect((await sampler.sample(Date.now())).metrics[SYSTEM_METRICS.temperature]).toBe(71.5);
  });

  it('reads this Linux host', async () => {
    const sampler = new SystemSampler({ stateDir: tmpdir() });

    await sampler.sample(Date.now());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { metrics } = await sampler.sample(Date.now());

    expect(metrics[SYSTEM_METRICS.memory]).toBeGreaterThan(0);
    expect(metrics[SYSTEM_METRICS.uptime]).toBeGreaterThan(0);
    expect(metrics[SYSTEM_METRICS.cpu]).toBeGreaterThanOrEqual(0);
    expect(metrics[SYSTEM_METRICS.disk]).toBeGreaterThan(0);
  });

  it('leaves out what it cannot read instead of failing', async () => {
    const sampler = new SystemSampler({
      stateDir: join(root, 'missing'),
      procDir: join(root, 'nothing'),
      sysDir: join(root, 'nothing'),
    });

    const sample = await sampler.sample(Date.now());

    expect(Object.keys(sample.metrics)).toEqual([SYSTEM_METRICS.restarts]);
  });

  it("takes the app check's verdict, its app.* metrics only, and restarts from its counter", async () => {
    let restartsTotal = 4;
    const sampler = new SystemSampler({
      stateDir: root,
      procDir: procDir(),
      healthCheck: async () => ({
        health: 'degraded',
        metrics: { 'app.queue_depth': 12, 'cpu.percent': 99 },
        restartsTotal,
      }),
    });

    await sampler.sample(Date.now());
    restartsTotal = 6;
    const sample = await sampler.sample(Date.now());

    expect(sample.health).toBe('degraded');
    expect(sample.metrics['app.queue_depth']).toBe(12);
    expect(sample.metrics[SYSTEM_METRICS.cpu]).not.toBe(99);
    expect(sample.metrics[SYSTEM_METRICS.restarts]).toBe(2);
  });

  it('is unhealthy when the check does not answer in time', async () => {
    const sampler = new SystemSampler({
      stateDir: root,
      procDir: procDir(),
      healthTimeoutMs: 50,
      healthCheck: () => new Promise(() => {}),
    });

    expect((await sampler.sample(Date.now())).health).toBe('unhealthy');
  });
});

describe('application health checks', () => {
  it('parses app metrics and the restart counter from check output', () => {
    expect(
      parseCheckOutput('ok\napp.queue_depth=3\napp.lag.ms=1.5e2\nrestarts_total=7\ncpu.percent=9\n'),
    ).toEqual({
      metrics: { 'app.queue_depth': 3, 'app.lag.ms': 150 },
      restartsTotal: 7,
    });
  });

  it('maps a command exit code to healthy, degraded or unhealthy (as Nagios plug-ins)', async () => {
    const run = (script: string) => commandHealthCheck(['/bin/sh', '-c', script])(AbortSignal.timeout(5_000));

    expect(await run('echo app.queue_depth=2; exit 0')).toEqual({
      health: 'healthy',
      metrics: { 'app.queue_depth': 2 },
    });
    expect(await run('echo slow; exit 1')).toMatchObject({
      health: 'degraded',
      detail: 'sh exited with 1: slow',
    });
    expect((await run('exit 2')).health).toBe('unhealthy');
  });

  describe('HTTP', () => {
    let server: Server;
    let answer: { status: number; body: string };
    let url: string;
    beforeEach(async () => {
      server = createServer((_, response) => {
        response.writeHead(answer.status).end(answer.body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/health`;
    });
    afterEach(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('is healthy on 2xx, lets a JSON body decide, and is unhealthy otherwise', async () => {
      const check = httpHealthCheck(url);
      answer = { status: 200, body: 'OK' };
      expect(await check(AbortSignal.timeout(5_000))).toEqual({ health: 'healthy' });
      answer = { status: 200, body: '{"status":"degraded","metrics":{"app.backlog":40,"x":1}}' };
      expect(await check(AbortSignal.timeout(5_000))).toEqual({
        health: 'degraded',
        metrics: { 'app.backlog': 40 },
      });
      answer = { status: 503, body: '' };
      expect(await check(AbortSignal.timeout(5_000))).toMatchObject({ health: 'unhealthy' });
    });
  });
});
