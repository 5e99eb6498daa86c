/**
 * Wave planning at fleet scale: time and peak memory for 100k and 1M devices across 20 hardware
 * types × 50 sites, planned into 5 % → 25 % → rest. Run: `npm run bench -- wave-plan`.
 * (The synchronous plan blocks the sampler, so peak heap is read after the run: a lower bound.)
 */
import { planWaves } from '../functions/domain/wave-plan';
import { measure } from './measure';

function fleet(n: number) {
  return Array.from({ length: n }, (_, i) => ({
    deviceId: `gw-${i.toString(36).padStart(6, '0')}`,
    hardwareType: `hw-${i % 20}`,
    site: `site-${Math.floor(i / 20) % 50}`,
  }));
}

const rows = [];
for (const n of [100_000, 1_000_000]) {
  const devices = fleet(n);
  const busy = new Map(devices.slice(0, n / 100).map((d) => [d.deviceId, 'ro-other']));
  const { result, ms, peakRssMb, peakHeapMb } = await measure(() =>
    planWaves({
      seed: 'bench',
      devices,
      busy,
      waves: [{ size: { percent: 5 } }, { size: { percent: 25 } }, { size: { percent: 100 } }],
    }),
  );
  rows.push({
    devices: n,
    'plan ms': ms,
    'peak RSS MB': peakRssMb,
    'heap growth MB': peakHeapMb,
    waves: result.waves.map((w) => w.deviceIds.length).join(' / '),
    excluded: result.excluded.length,
    'strata in canary': `${result.strata.coveredByCanary}/${result.strata.total}`,
  });
}
console.log('Wave planning (bench/wave-plan.ts)');
console.table(rows);
