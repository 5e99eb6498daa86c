/**
 * Power cuts during updates: the `edgeops-agent` daemon, a real process speaking MQTT over mutual
 * TLS to a local broker in front of the in-memory IoT core, SIGKILLed (with everything it started)
 * at random points of an OTA update and started again, until at least N kills (default 100).
 * Prints kills per stage, events lost and bricked devices (both must be 0), and the median update
 * time with and without kills. See simulator/daemon-kill-harness.ts.
 *
 * Run: `npm run bench -- agent-kill [N] [seed]` (opt-in: about 3 to 4 minutes for 100 kills);
 * the release is multi-component (root file system, app, model; job document v3), `--v2` makes
 * it one image (job document v2); `--source` runs device/daemon/main.ts through tsx instead of the
 * bundle. Ctrl-C stops everything it started. Exits 1 if an event was lost, a device bricked or
 * an update stuck.
 */
import { shutdownOnSignals } from '../scripts/local-aws/shutdown';
import {
  type CycleResult,
  KILL_STAGES,
  type KillHarnessReport,
  median,
  runKillHarness,
} from '../simulator/daemon-kill-harness';

const numbers = process.argv.slice(2).filter((a) => /^\d+$/.test(a));
const kills = Number(numbers[0] ?? 100);
const seed = Number(numbers[1] ?? Math.floor(Math.random() * 2 ** 31));
const daemon = process.argv.includes('--source') ? 'source' : 'bundle';
const documentKind = process.argv.includes('--v2') ? 'v2' : 'v3';

const started = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const shutdown = shutdownOnSignals(log);

const flags = [...(documentKind === 'v2' ? ['--v2'] : []), ...(daemon === 'source' ? ['--source'] : [])];
log(
  `agent-kill: at least ${kills} kills, job document ${documentKind}, seed ${seed}, daemon ${daemon} ` +
    `(repeat with: agent-kill ${[kills, seed, ...flags].join(' ')})`,
);
try {
  const report = await runKillHarness({ kills, seed, daemon, documentKind, signal: shutdown.signal, log });
  printReport(report);
  const failed = report.cycles.filter((c) => c.problems.length > 0);
  for (const cycle of failed) printFailure(cycle);
  process.exitCode = failed.length > 0 ? 1 : 0;
} catch (error) {
  if (!shutdown.signal.aborted) throw error;
  log('stopped.');
  process.exitCode = 130;
}

function printReport(report: KillHarnessReport) {
  const { cycles } = report;
  const killCycles = cycles.filter((c) => c.kills.length > 0);
  const baseline = cycles.filter((c) => c.kind === 'baseline');
  const allKills = cycles.flatMap((c) => c.kills);
  const stages = [...new Set([...KILL_STAGES, ...allKills.map((k) => k.stage)])];
  const perStage = Object.fromEntries(stages.map((s) => [s, allKills.filter((k) => k.stage === s).length]));
  const count = (keep: (c: CycleResult) => boolean) => cycles.filter(keep).length;

  console.log(
    `\nPower cuts during OTA updates (job document ${report.documentKind}, seed ${report.seed}, ` +
      `kill window ${Math.round(report.killWindowMs)} ms)`,
  );
  console.table([
    {
      cycles: cycles.length,
      'with kills': killCycles.length,
      kills: allKills.length,
      'events lost': cycles.reduce((sum, c) => sum + c.eventsLost, 0),
      bricked: count((c) => c.bricked),
      stuck: count((c) => c.status === 'STUCK'),
      'other problems': count((c) => c.problems.length > 0 && !c.bricked && c.eventsLost === 0),
      succeeded: count((c) => c.status === 'SUCCEEDED'),
      'rolled back': count((c) => c.status === 'FAILED'),
      'median update, no kills (ms)': Math.round(median(baseline.map((c) => c.updateMs))),
      'median update, with kills (ms)': Math.round(median(killCycles.map((c) => c.updateMs))),
    },
  ]);
  console.log('Kills per stage (where the job was on disk when the power went):');
  console.table([perStage]);
}

function printFailure(cycle: CycleResult) {
  console.log(`\nCycle ${cycle.index} (${cycle.thing}, job ${cycle.jobId}), kept in ${cycle.deviceDir}:`);
  for (const problem of cycle.problems) console.log(`  - ${problem}`);
  console.log(
    `  kills: ${cycle.kills.map((k) => `${k.stage} after ${Math.round(k.afterMs)} ms`).join('; ')}`,
  );
  console.log(`  last output:\n    ${(cycle.output ?? []).slice(-30).join('\n    ')}`);
}
