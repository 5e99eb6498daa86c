/**
 * `npm run demo`: brings the local system up with 30 simulated devices, runs a three-wave
 * rollout of 1.1.0 to all of them, and prints each wave's funnel as it moves. Stops everything
 * at the end, or at Ctrl-C.
 *
 * EDGEOPS_DEMO_UNHEALTHY=0.2 makes a fifth of the devices fail their health check after boot.
 * Which ones is taken from the rollout's own plan (`POST /rollouts/preview`), spread evenly over
 * its order, so the canary holds its share (at least one) and the rollout halts there, as a real
 * canary would with that many bad devices. A mix drawn at random could miss a six-device canary
 * and end the demo with nothing to show.
 */
import { bringUpLocalEdgeOps, type LocalEdgeOps } from './local-aws/environment';
import { spreadOverPlan } from './local-aws/fault-spread';
import { shutdownOnSignals } from './local-aws/shutdown';

const log = (line: string) => console.log(line);
const shutdown = shutdownOnSignals(log);
const unhealthy = Number(process.env.EDGEOPS_DEMO_UNHEALTHY ?? 0);
if (!(unhealthy >= 0 && unhealthy <= 1)) {
  console.error(
    `EDGEOPS_DEMO_UNHEALTHY must be a fraction between 0 and 1, not ${process.env.EDGEOPS_DEMO_UNHEALTHY}`,
  );
  process.exit(2);
}

interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
  bytes?: { sent: number; saved: number; deltaDevices: number; fullDevices: number };
  waves: { wave: number; status: string; deviceCount: number; funnel?: Record<string, number> }[];
}

const ROLLOUT = {
  releaseId: 'rel-1.1.0',
  target: { filter: { region: 'eu-west' } },
  waves: [
    { count: 6, soakSeconds: 10, maxFailures: 0 },
    { percent: 30, soakSeconds: 10, successThreshold: 90, maxFailures: 1 },
    { percent: 100, soakSeconds: 10, successThreshold: 90, maxFailures: 2 },
  ],
};

let exitCode = 0;
try {
  const local = await bringUpLocalEdgeOps({
    aws: { waitScale: 0.2 },
    fleetSize: 30,
    log,
    signal: shutdown.signal,
  });
  try {
    await runRollout(local);
  } catch (error) {
    if (!shutdown.signal.aborted) throw error;
  } finally {
    await local.stop();
  }
} catch (error) {
  if (!shutdown.signal.aborted) {
    console.error(error instanceof Error ? error.message : error);
    exitCode = 1;
  }
}
process.exit(shutdown.signal.aborted ? 130 : exitCode);

async function runRollout(local: LocalEdgeOps) {
  const { api, fleet } = local;
  if (unhealthy > 0) {
    const preview = await api.request<{ waves: { wave: number; deviceIds: string[] }[] }>(
      'POST',
      'rollouts/preview',
      ROLLOUT,
    );
    if (preview.status !== 200) throw new Error(`Preview refused: ${JSON.stringify(preview.body)}`);
    const planned = preview.body.waves.flatMap((w) => w.deviceIds);
    const bad = spreadOverPlan(planned, unhealthy);
    for (const deviceId of bad) fleet.setFaultProfile(deviceId, 'unhealthy-after-boot');
    const canary = new Set(preview.body.waves[0]?.deviceIds ?? []);
    log(
      `\n${bad.length} of ${planned.length} devices will fail their health check after boot: ${bad.join(', ')} ` +
        `(${bad.filter((id) => canary.has(id)).length} of them in the canary).`,
    );
  }

  const start = await api.request<{ rollout: RolloutBody }>('POST', 'rollouts', ROLLOUT);
  if (start.status !== 201) throw new Error(`Rollout refused: ${JSON.stringify(start.body)}`);
  const { rolloutId } = start.body.rollout;
  log(
    `\nRollout ${rolloutId}: 1.0.0 → 1.1.0 over three waves (funnel: queued → downloading → installing → rebooting → healthy / failed / rolled-back)\n`,
  );
  let last = '';
  for (;;) {
    shutdown.signal.throwIfAborted();
    const { body } = await api.request<RolloutBody>('GET', `rollouts/${rolloutId}`);
    const lines = body.waves.map((w) => {
      const f = w.funnel ?? {};
      return `  wave ${w.wave} [${w.status.padEnd(8)}] ${String(w.deviceCount).padStart(2)} devices │ queued ${f.queued ?? 0}  downloading ${f.downloading ?? 0}  installing ${f.installing ?? 0}  rebooting ${f.rebooting ?? 0}  healthy ${f.healthy ?? 0}  failed ${f.failed ?? 0}  rolled-back ${f['rolled-back'] ?? 0}`;
    });
    const frame = `${body.status}\n${lines.join('\n')}`;
    if (frame !== last) {
      log(`${new Date().toISOString().slice(11, 19)}  rollout ${frame}\n`);
      last = frame;
    }
    if (!['running', 'pausing', 'paused', 'awaiting-approval'].includes(body.status)) {
      log(body.haltReason ? `Halted: ${body.haltReason}` : `Rollout ${body.status}.`);
      const failed = fleet
        .statuses()
        .filter((s) => s.stage === 'failed' || s.stage === 'rolled-back')
        .map((s) => `${s.deviceId} (${s.stage}: ${s.reason ?? 'no reason'})`);
      if (failed.length > 0) log(`Devices that did not take 1.1.0: ${failed.join(', ')}`);
      const bytes = body.bytes;
      if (bytes)
        log(
          `Bytes: ${bytes.sent} sent, ${bytes.saved} saved by deltas (${bytes.deltaDevices} devices took a delta, ${bytes.fullDevices} the full image).`,
        );
      return;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
