/**
 * `edgeops trust …`: the release-trust root ceremony (scripts/trust/root-ceremony.ts) and what the
 * stack trusts now. Keep the key folders offline; only signed roots leave them.
 */
import type { Command } from 'commander';
import {
  currentRoot,
  generateRootKeys,
  initialRoot,
  loadRootKeys,
  nextRoot,
  onlineKeys,
  uploadRoot,
} from '../../scripts/trust/root-ceremony';
import { CliError, ExitCode } from '../errors';
import { integer, type Runner } from '../program';

const expiresIn = (days: number, now: Date) => new Date(now.getTime() + days * 86_400_000);

export function registerTrustCommands(program: Command, run: Runner) {
  const trust = program
    .command('trust')
    .description('release trust (TUF): root keys, the root ceremony and key rotation (admin)');

  trust
    .command('keygen')
    .description('make root keys, one PKCS#8 PEM file each (0600), on an offline machine')
    .requiredOption('--dir <dir>', 'where to write them')
    .option('--count <n>', 'how many keys', integer(1, 20), 3)
    .action(
      run(async ({ out }, _args, o) => {
        const keys = await generateRootKeys(String(o.dir), o.count as number);
        out.result({ dir: o.dir, keyIds: keys.map((k) => k.keyId) }, () => [
          `Wrote ${keys.length} root keys to ${o.dir}:`,
          ...keys.map((k) => `  ${k.keyId}`),
        ]);
      }),
    );

  trust
    .command('init')
    .description(
      "sign root v1 with the keys in --dir (a threshold of them) and the stack's online keys, and upload it",
    )
    .requiredOption('--dir <dir>', 'the root keys')
    .requiredOption('--threshold <n>', 'signatures a root needs', integer(1, 20))
    .option('--expires-days <days>', 'root lifetime', integer(1, 3650), 365)
    .action(
      run(async ({ ctx, api, out }, _args, o) => {
        const rootKeys = await loadRootKeys(String(o.dir));
        const client = await api();
        const root = await initialRoot({
          rootKeys,
          threshold: o.threshold as number,
          online: await onlineKeys(client),
          expires: expiresIn(o.expiresDays as number, ctx.now()),
        });
        const stored = await uploadRoot(client, root);
        out.result(stored, () => `Root v1 uploaded (threshold ${o.threshold} of ${rootKeys.length} keys).`);
      }),
    );

  for (const kind of ['rotate-root', 'rotate-online'] as const) {
    const command = trust
      .command(kind)
      .description(
        kind === 'rotate-root'
          ? 'sign the next root with new root keys (--new-dir), signed by the old and the new'
          : 'sign the next root with the same root keys and the online keys named (default: all the stack holds)',
      )
      .requiredOption('--dir <dir>', kind === 'rotate-root' ? 'the current root keys' : 'the root keys')
      .option('--expires-days <days>', 'root lifetime', integer(1, 3650), 365);
    if (kind === 'rotate-root')
      command
        .requiredOption('--new-dir <dir>', 'the new root keys')
        .requiredOption('--threshold <n>', 'signatures the new root needs', integer(1, 20));
    else command.option('--online <keyIds>', 'comma-separated online key ids to keep');
    command.action(
      run(async ({ ctx, api, out }, _args, o) => {
        const client = await api();
        const previous = await currentRoot(client);
        if (!previous) throw new CliError('no root yet: run edgeops trust init first', ExitCode.failure);
        const oldKeys = await loadRootKeys(String(o.dir));
        const newKeys = kind === 'rotate-root' ? await loadRootKeys(String(o.newDir)) : oldKeys;
        const threshold =
          kind === 'rotate-root' ? (o.threshold as number) : (previous.signed.roles.root?.threshold ?? 1);
        const wanted = o.online ? String(o.online).split(',') : undefined;
        const online = (await onlineKeys(client)).filter((k) => !wanted || wanted.includes(k.keyId));
        if (online.length === 0)
          throw new CliError('--online names none of the stack online keys', ExitCode.usage);
        const root = await nextRoot({
          previousVersion: previous.signed.version,
          rootKeys: newKeys.map((k) => k.publicKey),
          threshold,
          online,
          expires: expiresIn(o.expiresDays as number, ctx.now()),
          signers: [...oldKeys, ...newKeys],
        });
        const stored = await uploadRoot(client, root);
        out.result(stored, () => `Root v${previous.signed.version + 1} uploaded.`);
      }),
    );
  }

  trust
    .command('root')
    .description('the newest root metadata devices trust')
    .action(
      run(async ({ api, out }) => {
        const root = await currentRoot(await api());
        if (!root) throw new CliError('no root yet: run edgeops trust init', ExitCode.notFound);
        const json = root.toJSON();
        out.result(json, () => [
          `root v${root.signed.version}, expires ${root.signed.expires}`,
          ...Object.entries(root.signed.roles).map(
            ([role, r]) => `  ${role}: threshold ${r.threshold} of ${r.keyIDs.length} key(s)`,
          ),
        ]);
      }),
    );

  trust
    .command('online-keys')
    .description("the stack's online signing keys (admin)")
    .action(
      run(async ({ api, out }) => {
        const keys = await onlineKeys(await api());
        out.result({ keys }, () => keys.map((k) => `${k.keyId}  ${k.kmsKeyArn}`));
      }),
    );
}
