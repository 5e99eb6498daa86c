/**
 * `tsx scripts/trust/cli.ts <command> …`, kept for scripts that call it: the root ceremony now
 * lives in the CLI as `edgeops trust <command> …` (`npm run trust -- <command>` runs that too).
 * EDGEOPS_API_URL and an admin's ID token in EDGEOPS_TOKEN still work, or a saved `edgeops login`.
 */
export {};

process.argv.splice(2, 0, 'trust');
await import('../../cli/main');
