/**
 * `npm run demo`: brings the local system up with 30 simulated devices, runs a three-wave
 * rollout of 1.1.0 to all of them, and prints each wave's funnel as it moves. Stops everything
 * at the end. EDGEOPS_DEMO_UNHEALTHY=0.2 makes a fifth of the devices fail health after boot.
 */
import { bringUpLocalEdgeOps } from './local-aws/environment';

const log = (line: string) => console.log(line);
const unhealthy = Number(process.env.EDGEOPS_DEMO_UNHEALTHY ?? 0);
const local = await bringUpLocalEdgeOps({
  aws: { waitScale: 0.2 },
  fleetSize: 30,
  ...(unhealthy > 0 ? { faultMix: { healthy: 1 - unhealthy, 'unhealthy-after-boot': unhealthy } } : {}),
  log,
});

interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
  bytes?: { sent: number; saved: number; deltaDevices: number; fullDevices: number };
  waves: { wave: number; status: string; deviceCount: number; funnel?: Record<string, number> }[];
}

try {
  const start = await local.api.request<{ rollout: RolloutBody }>('POST', 'rollouts', {
    releaseId: 'rel-1.1.0',
    target: { filter: { region: 'eu-west' } },
    waves: [
      { count: 6, soakSeconds: 10, maxFailures: 0 },
      { percent: 30, soakSeconds: 10, successThreshold: 90, maxFailures: 1 },
      { percent: 100, soakSeconds: 10, successThreshold: 90, maxFailures: 2 },
    ],
  });
  if (start.status !== 201) throw new Error(`Rollout refused: ${JSON.stringify(start.body)}`);
  const { rolloutId } = start.body.rollout;
  log(
    `\nRollout ${rolloutId}: 1.0.0 → 1.1.0 over three waves (funnel: queued → downloading → installing → rebooting → healthy / failed / rolled-back)\n`,
  );
  let last = '';
  for (;;) {
    const { body } = await local.api.request<RolloutBody>('GET', `rollouts/${rolloutId}`);
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
      const bytes = body.bytes;
      if (bytes)
        log(
          `Bytes: ${bytes.sent} sent, ${bytes.saved} saved by deltas (${bytes.deltaDevices} devices took a delta, ${bytes.fullDevices} the full image).`,
        );
      break;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
} finally {
  await local.stop();
}
