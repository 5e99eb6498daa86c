/** `edgeops artifacts upload|show`: an artifact's bytes to storage through presigned URLs, then sealed. */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import type { ArtifactKind, ArtifactView } from '../../operator-client/operator-api-client';
import { CliError, ExitCode } from '../errors';
import { formatBytes } from '../output';
import { integer, type Runner } from '../program';
import { progressBar, uploadFile } from '../upload';

const describe = (a: ArtifactView) => [
  `artifact  ${a.artifactId}`,
  `status    ${a.status}${a.rejectionReason ? ` (${a.rejectionReason})` : ''}`,
  `kind      ${a.kind} ${a.version} for ${a.hardwareType}${a.name ? ` (${a.name})` : ''}`,
  `size      ${a.size ?? a.declaredSize} bytes${a.size === null ? ' (declared)' : ''}`,
  `sha256    ${a.sha256 ?? '-'}`,
];

export function registerArtifactCommands(program: Command, run: Runner) {
  const artifacts = program.command('artifacts').description('firmware, app, model and config files');

  artifacts
    .command('upload')
    .description(
      'create an artifact, upload the file (multipart above the threshold) with a progress bar, and wait until it is sealed',
    )
    .argument('<file>')
    .addOption(
      new Option('--kind <kind>', 'what the file is')
        .choices(['firmware', 'app', 'model', 'config'])
        .default('firmware'),
    )
    .requiredOption('--hardware-type <type>', 'the hardware it is for')
    .requiredOption('--version <version>', 'its version')
    .option('--name <name>', 'a name to show')
    .option('--no-wait', 'return once uploaded, before the backend has measured it')
    .option('--concurrency <n>', 'parts uploaded at once', integer(1, 16), 4)
    .option('--timeout <seconds>', 'how long to wait for the seal', integer(1, 86_400), 300)
    .action(
      run(async ({ ctx, api, out }, [file], o) => {
        const path = file as string;
        let size: number;
        try {
          const info = await stat(path);
          if (!info.isFile()) throw new Error('not a file');
          size = info.size;
        } catch (error) {
          throw new CliError(`${path}: ${(error as Error).message}`, ExitCode.usage);
        }
        const client = await api();
        const created = await client.createArtifact({
          kind: o.kind as ArtifactKind,
          hardwareType: String(o.hardwareType),
          version: String(o.version),
          size,
          ...(o.name ? { name: String(o.name) } : {}),
        });
        const { artifactId } = created.artifact;
        const parts =
          created.upload.type === 'multipart' ? `${created.upload.parts.length} parts` : 'one PUT';
        out.note(`Uploading ${basename(path)} (${formatBytes(size)}, ${parts}) as ${artifactId}`);
        const uploaded = await uploadFile(path, size, created.upload, {
          progress: progressBar(ctx.terminal.stderr, ctx.terminal.stderrIsTty, size),
          concurrency: o.concurrency as number,
          signal: ctx.signal,
        });
        let artifact = await (await api()).completeArtifactUpload(artifactId, uploaded);
        if (o.wait !== false) {
          const deadline = ctx.now().getTime() + (o.timeout as number) * 1000;
          while (artifact.status === 'sealing' || artifact.status === 'awaiting-upload') {
            if (ctx.now().getTime() > deadline)
              throw new CliError(`${artifactId} is still ${artifact.status} after ${o.timeout} s`);
            await ctx.sleep(500);
            artifact = await (await api()).getArtifact(artifactId);
          }
        }
        out.result(artifact, () => describe(artifact));
        return artifact.status === 'rejected' ? ExitCode.failure : ExitCode.ok;
      }),
    );

  artifacts
    .command('show')
    .description('status, measured size and SHA-256')
    .argument('<artifactId>')
    .action(
      run(async ({ api, out }, [artifactId]) => {
        const artifact = await (await api()).getArtifact(artifactId as string);
        out.result(artifact, () => describe(artifact));
      }),
    );
}
