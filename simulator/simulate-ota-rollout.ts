/**
 * One OTA rollout to a simulated fleet, all in this process: the in-memory IoT core, a local
 * artifact server and N agents with seeded fault profiles. No AWS, no network beyond 127.0.0.1.
 *
 *   npx tsx simulator/simulate-ota-rollout.ts [devices=1000] [seed=edgeops]
 *
 * Prints how long bring-up and the rollout took, memory, and where each fault profile ended.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FleetSimulator } from './fleet-simulator';
import { InMemoryIotCore } from './in-memory-iot-core';
import { startLocalArtifactServer } from './local-artifact-server';
import { LocalReleaseRepository } from './local-release-repository';

const size = Number(process.argv[2] ?? 1000);
const seed = process.argv[3] ?? 'edgeops';
const image = Buffer.alloc(256 * 1024, 0x5a);
const rssMb = () => `${Math.round(process.memoryUsage().rss / 1e6)} MB`;

const core = new InMemoryIotCore();
const server = await startLocalArtifactServer();
const repository = await LocalReleaseRepository.create(server);
const release = { releaseId: 'rel-2', version: '2.0.0' };
const signed = await repository.addImage(release, 'rpi4', image);
const stateDir = await mkdtemp(join(tmpdir(), 'edgeops-sim-'));
const fleet = new FleetSimulator({
  size,
  connectorFor: (deviceId) => core.connector(deviceId),
  hardwareTypes: ['rpi4'],
  concurrency: 100,
  ota: {
    stateDir,
    seed,
    allowPlainHttp: true,
    timeFactor: 0.001,
    trustRoot: repository.root,
    mix: {
      healthy: 0.8,
      'slow-link': 0.05,
      offline: 0.05,
      'download-failure': 0.03,
      'unhealthy-after-boot': 0.04,
      'crash-loop': 0.03,
    },
  },
});

try {
  let started = Date.now();
  await fleet.start();
  console.log(`${size} devices up in ${Date.now() - started} ms, ${rssMb()}`);

  started = Date.now();
  const deviceIds = fleet.agents.map((agent) => agent.deviceId);
  core.createJob(
    'sim-rollout-w0',
    repository.jobDocument({
      rolloutId: 'sim-rollout',
      operation: 'install',
      release,
      artifacts: [{ hardwareType: 'rpi4', target: signed.target, url: signed.url }],
      healthCheckSeconds: 60,
    }),
    deviceIds,
  );
  const ended = new Set(['SUCCEEDED', 'FAILED', 'REJECTED']);
  let settled = 0;
  await core.waitFor(
    () => {
      while (
        settled < deviceIds.length &&
        ended.has(core.execution(deviceIds[settled] ?? '', 'sim-rollout-w0')?.status ?? '')
      )
        settled++;
      return settled === deviceIds.length ? true : undefined;
    },
    30 * 60_000,
    'the rollout to end',
  );
  await fleet.whenIdle();
  console.log(`rollout ended in ${Date.now() - started} ms, ${rssMb()}`);
  console.table(fleet.tally());
} finally {
  await fleet.stop();
  await server.close();
  await rm(stateDir, { recursive: true, force: true });
}
