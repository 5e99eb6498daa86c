/**
 * `npm run bench` runs every benchmark but the opt-in ones; `npm run bench -- <name> [args]` one
 * of them (e.g. `npm run bench -- fleet 1000`; a benchmark reads its own arguments: numbers and
 * `--flags`).
 */
export {};

const all = ['wave-plan', 'ingest-events', 'delta', 'bundles', 'dispatch-model', 'telemetry-bytes'];
/** Minutes-long runs (against local AWS, or killing a real agent process): only when named. */
const optIn = ['fleet', 'agent-kill', 'telemetry-ingest'];
/** Numbers and `--flags` are the benchmark's own arguments. */
const chosen = process.argv.slice(2).filter((a) => !/^\d+$/.test(a) && !a.startsWith('--'));
for (const name of chosen.length > 0 ? chosen : all) {
  if (![...all, ...optIn].includes(name))
    throw new Error(`Unknown benchmark ${name}; one of ${[...all, ...optIn].join(', ')}`);
  await import(`./${name}.ts`);
}
