import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assignFaultProfile, FAULT_PROFILES, type FaultProfile } from '../../simulator/fault-profiles';
import { FleetSimulator, type FleetSimulatorOptions } from '../../simulator/fleet-simulator';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { LocalReleaseRepository } from '../../simulator/local-release-repository';

describe('assignFaultProfile', () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => `sim-${i}`);

  it('gives a device the same profile for the same seed and mix', () => {
    const assignment = { seed: 'canary-1', mix: { healthy: 0.5, 'crash-loop': 0.5 } };

    expect(ids.map((id) => assignFaultProfile(id, assignment))).toEqual(
      ids.map((id) => assignFaultProfile(id, { ...assignment })),
    );
  });

  it('follows the mix across a large fleet', () => {
    const profiles = ids.map((id) =>
      assignFaultProfile(id, { seed: 's', mix: { healthy: 0.9, 'unhealthy-after-boot': 0.1 } }),
    );

    const unhealthy = profiles.filter((p) => p === 'unhealthy-after-boot').length / ids.length;
    expect(unhealthy).toBeGreaterThan(0.08);
    expect(unhealthy).toBeLessThan(0.12);
    expect(new Set(profiles)).toEqual(new Set(['healthy', 'unhealthy-after-boot']));
  });

  it('assigns differently under another seed', () => {
    const mix = { healthy: 0.5, offline: 0.5 };
    const a = ids.slice(0, 200).map((id) => assignFaultProfile(id, { seed: 'a', mix }));
    const b = ids.slice(0, 200).map((id) => assignFaultProfile(id, { seed: 'b', mix }));

    expect(a).not.toEqual(b);
  });

  it('lets an explicit profile for a device win over the mix', () => {
    expect(
      assignFaultProfile('sim-1', { seed: 's', mix: { healthy: 1 }, byDevice: { 'sim-1': 'slow-link' } }),
    ).toBe('slow-link');
  });

  it('refuses a mix without any positive weight', () => {
    expect(() => assignFaultProfile('sim-1', { seed: 's', mix: { healthy: 0 } })).toThrow(/positive weight/);
  });
});

describe('FleetSimulator with OTA', () => {
  const IMAGE = Buffer.from(Array.from({ length: 48 * 1024 }, (_, i) => (i * 31) % 253));
  let core: InMemoryIotCore;
  let server: LocalArtifactServer;
  let repo: LocalReleaseRepository;
  let image: { target: string; url: string };
  let stateDir: string;
  let simulator: FleetSimulator | undefined;

  beforeEach(async () => {
    core = new InMemoryIotCore();
    server = await startLocalArtifactServer();
    repo = await LocalReleaseRepository.create(server);
    image = await repo.addImage({ releaseId: 'rel-2', version: '2.0.0' }, 'rpi4', IMAGE);
    stateDir = await mkdtemp(join(tmpdir(), 'edgeops-fleet-'));
  });

  afterEach(async () => {
    await simulator?.stop();
    simulator = undefined;
    await server.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const fleet = (
    options: Partial<FleetSimulatorOptions> & { size: number },
    ota: Partial<FleetSimulatorOptions['ota']> = {},
  ) => {
    simulator = new FleetSimulator({
      connectorFor: (deviceId) => core.connector(deviceId),
      hardwareTypes: ['rpi4'],
      concurrency: 50,
      ...options,
      ota: {
        stateDir,
        allowPlainHttp: true,
        timeFactor: 0.001,
        downloadCutBytes: 8_192,
        trustRoot: repo.root,
        ...ota,
      },
    });
    return simulator;
  };

  const rollOut = async (sim: FleetSimulator) => {
    const deviceIds = sim.agents.map((agent) => agent.deviceId);
    core.createJob(
      'r1-w0',
      repo.jobDocument({
        rolloutId: 'r1',
        operation: 'install',
        release: { releaseId: 'rel-2', version: '2.0.0' },
        artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
        healthCheckSeconds: 10,
      }),
      deviceIds,
    );
    await core.waitFor(
      () =>
        deviceIds.every((id) =>
          ['SUCCEEDED', 'FAILED', 'REJECTED'].includes(core.execution(id, 'r1-w0')?.status ?? ''),
        )
          ? true
          : undefined,
      20_000,
      'every execution to end',
    );
    await sim.whenIdle();
  };

  it('ends each fault profile the way that fault should end', async () => {
    const profiles = Object.fromEntries(
      FAULT_PROFILES.map((profile, i) => [`sim-${String(i + 1).padStart(4, '0')}`, profile]),
    ) as Record<string, FaultProfile>;
    const sim = fleet({ size: FAULT_PROFILES.length }, { profiles });
    await sim.start();

    await rollOut(sim);

    const outcome = Object.fromEntries(
      sim
        .statuses()
        .map((s) => [
          s.profile,
          [s.stage, s.reason ?? '', s.runningVersion, core.execution(s.deviceId, 'r1-w0')?.status],
        ]),
    );
    expect(outcome).toEqual({
      healthy: ['healthy', '', '2.0.0', 'SUCCEEDED'],
      'slow-link': ['healthy', '', '2.0.0', 'SUCCEEDED'],
      offline: ['healthy', '', '2.0.0', 'SUCCEEDED'],
      'download-failure': ['failed', 'sha256-mismatch', '1.0.0', 'FAILED'],
      'unhealthy-after-boot': ['rolled-back', 'health-check-failed', '1.0.0', 'FAILED'],
      'crash-loop': ['rolled-back', 'crash-before-confirm', '1.0.0', 'FAILED'],
    });
  });

  it('delivers every event of a device that was offline during its update, in order', async () => {
    const sim = fleet({ size: 1 }, { profiles: { 'sim-0001': 'offline' } });
    await sim.start();

    await rollOut(sim);

    expect(core.otaEvents('sim-0001').map((e) => [e.stage, e.seq])).toEqual([
      ['downloading', 0],
      ['installing', 1],
      ['rebooting', 2],
      ['healthy', 3],
    ]);
  });

  it('assigns the same profiles to the same fleet every run', async () => {
    const ota = { seed: 'run-42', mix: { healthy: 0.7, 'crash-loop': 0.3 } };
    const first = fleet({ size: 40 }, ota);
    await first.start();
    const profilesOfFirst = first.statuses().map((s) => s.profile);
    await first.stop();

    const second = fleet({ size: 40 }, ota);
    await second.start();

    expect(second.statuses().map((s) => s.profile)).toEqual(profilesOfFirst);
    expect(new Set(profilesOfFirst)).toEqual(new Set(['healthy', 'crash-loop']));
  });

  it('fails the health check of a device made unhealthy after it came up, and only that one', async () => {
    const sim = fleet({ size: 2 });
    await sim.start();

    sim.setFaultProfile('sim-0002', 'unhealthy-after-boot');
    await rollOut(sim);

    expect(sim.statuses().map((s) => [s.deviceId, s.stage, s.reason ?? ''])).toEqual([
      ['sim-0001', 'healthy', ''],
      ['sim-0002', 'rolled-back', 'health-check-failed'],
    ]);
  });

  it('refuses to change a link profile once the device is up', async () => {
    const sim = fleet({ size: 1 }, { profiles: { 'sim-0001': 'slow-link' } });
    await sim.start();

    expect(() => sim.setFaultProfile('sim-0001', 'unhealthy-after-boot')).toThrow(/link profile slow-link/);
  });

  it('keeps no timer running for idle devices, however many', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const sim = fleet(
      { size: 500, concurrency: 100 },
      { mix: { healthy: 0.5, 'crash-loop': 0.25, offline: 0.25 } },
    );

    await sim.start();
    await sim.whenIdle();

    expect(sim.agents).toHaveLength(500);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(
      timersBefore,
    );
  });
});
