/** `edgeops releases list|show|create`: immutable sets of ready artifacts. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { ReleaseView } from '../../operator-client/operator-api-client';
import { CliError, ExitCode } from '../errors';
import { table } from '../output';
import { integer, type Runner } from '../program';

const describe = (r: ReleaseView) => {
  const lines = [`release  ${r.releaseId} (${r.version})  created ${r.createdAt}`];
  if (r.notes) lines.push(`notes    ${r.notes}`);
  for (const [hardwareType, components] of Object.entries(r.components)) {
    lines.push(`  ${hardwareType}`);
    for (const c of components)
      lines.push(
        `    ${c.order}. ${c.name} (${c.handler})  ${c.artifact.artifactId}  ${c.artifact.size} bytes  sha256 ${c.artifact.sha256.slice(0, 16)}…`,
      );
  }
  return lines;
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerReleaseCommands(program: Command, run: Runner) {
  const releases = program.command('releases').description('releases: what rollouts install');

  releases
    .command('list')
    .description('releases, newest first')
    .option('--limit <n>', 'per page (1-100)', integer(1, 100))
    .option('--cursor <cursor>')
    .action(
      run(async ({ api, out }, _args, o) => {
        const page = await (await api()).listReleases({
          ...(o.limit ? { limit: o.limit as number } : {}),
          ...(o.cursor ? { cursor: String(o.cursor) } : {}),
        });
        out.result(page, () => [
          ...table(
            ['RELEASE', 'VERSION', 'HARDWARE', 'CREATED'],
            page.items.map((r) => [r.releaseId, r.version, Object.keys(r.components).join(','), r.createdAt]),
          ),
          ...(page.nextCursor ? [`(more: --cursor ${page.nextCursor})`] : []),
        ]);
      }),
    );

  releases
    .command('show')
    .argument('<releaseId>')
    .description('its components per hardware type, with sizes and SHA-256')
    .action(
      run(async ({ api, out }, [releaseId]) => {
        const release = await (await api()).getRelease(releaseId as string);
        out.result(release, () => describe(release));
      }),
    );

  releases
    .command('create')
    .description(
      'release rel-<version>: single images (--artifact, one per hardware type) or components (--components-file)',
    )
    .requiredOption('--version <version>', 'the release version')
    .option('--artifact <artifactId>', 'a ready artifact (repeat, one per hardware type)', collect)
    .option('--components-file <file>', 'JSON: {components: [...], downloadLimits?} as POST /releases takes')
    .option('--notes <text>')
    .action(
      run(async ({ api, out }, _args, o) => {
        const artifacts = (o.artifact as string[] | undefined) ?? [];
        if (artifacts.length > 0 === Boolean(o.componentsFile))
          throw new CliError('give either --artifact (repeatable) or --components-file', ExitCode.usage);
        const notes = o.notes ? { notes: String(o.notes) } : {};
        let request: Parameters<Awaited<ReturnType<typeof api>>['createRelease']>[0];
        if (o.componentsFile) {
          let parsed: { components?: unknown; downloadLimits?: unknown };
          try {
            parsed = JSON.parse(await readFile(String(o.componentsFile), 'utf8'));
          } catch (error) {
            throw new CliError(`${o.componentsFile}: ${(error as Error).message}`, ExitCode.usage);
          }
          // The API checks every field and names the bad one; this only shapes the body.
          request = { version: String(o.version), ...(parsed as object), ...notes } as typeof request;
        } else request = { version: String(o.version), artifacts, ...notes };
        const release = await (await api()).createRelease(request);
        out.result(release, () => describe(release));
      }),
    );
}
