/** `npm run bench` runs every benchmark; `npm run bench -- <name>` one of them. */
export {};

const all = ['wave-plan', 'ingest-events', 'delta'];
const chosen = process.argv.slice(2);
for (const name of chosen.length > 0 ? chosen : all) {
  if (!all.includes(name)) throw new Error(`Unknown benchmark ${name}; one of ${all.join(', ')}`);
  await import(`./${name}.ts`);
}
