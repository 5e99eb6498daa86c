/**
 * The `edgeops` command line, built on commander: global `--json` and `--profile`, one command
 * group per API area, one-line errors and meaningful exit codes (errors.ts).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { registerArtifactCommands } from './commands/artifacts';
import { registerAuditCommand } from './commands/audit';
import { registerAuthCommands } from './commands/auth';
import { registerDeviceCommands } from './commands/devices';
import { registerReleaseCommands } from './commands/releases';
import { registerRolloutCommands } from './commands/rollouts';
import { registerSpecCommands } from './commands/specs';
import { registerTrustCommands } from './commands/trust';
import type { CliContext, CommandScope } from './context';
import { EXIT_CODE_HELP, ExitCode, toCliError } from './errors';
import { Output } from './output';
import { Session } from './session';

/** An action body: resolves to an exit code, or to anything else (nothing) for 0. */
export type Handler = (
  scope: CommandScope,
  args: string[],
  options: Record<string, unknown>,
) => Promise<unknown>;
/** Wraps a handler into a commander action that builds its scope and records its exit code. */
export type Runner = (handler: Handler) => (...params: unknown[]) => Promise<void>;

/** Integer option values within bounds; anything else is a usage error naming the option. */
export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };

/** Builds the program; `state.exitCode` receives what the action returned. */
export function buildProgram(ctx: CliContext, state: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command('edgeops')
    .description('Operate an EdgeOps fleet: devices, artifacts, releases, rollouts and release trust.')
    .addOption(new Option('--json', 'print machine-readable JSON on stdout (and nothing else there)'))
    .addOption(
      new Option('--profile <name>', 'which saved login to use').env('EDGEOPS_PROFILE').default('default'),
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.terminal.stdout.write(text),
      writeErr: (text) => ctx.terminal.stderr.write(text),
      outputError: (text, write) => write(text.replace(/^error: /, 'edgeops: ')),
      getOutHelpWidth: () => ctx.terminal.columns ?? 100,
      getErrHelpWidth: () => ctx.terminal.columns ?? 100,
    })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Environment:
  EDGEOPS_CONFIG_DIR   where logins are kept (default ~/.config/edgeops; files are 0600)
  EDGEOPS_PROFILE      the profile to use (default: default)
  EDGEOPS_TOKEN        an ID token to use instead of the saved login (with EDGEOPS_API_URL)
  EDGEOPS_DEBUG=1      print the stack of an unexpected error

${EXIT_CODE_HELP}`,
    );

  const run: Runner =
    (handler) =>
    async (...params) => {
      const command = params.at(-1) as Command;
      const options = command.opts();
      const globals = command.optsWithGlobals() as { json?: boolean; profile: string };
      const args = params.slice(0, command.registeredArguments.length) as string[];
      const session = new Session({
        store: ctx.store,
        profileName: globals.profile,
        env: ctx.env,
        cognitoFor: ctx.cognitoFor,
        now: ctx.now,
      });
      const scope: CommandScope = {
        ctx,
        out: new Output(ctx.terminal, globals.json === true),
        session,
        api: async () => ctx.apiFor(await session.credentials()),
      };
      const code = await handler(scope, args, options);
      state.exitCode = typeof code === 'number' ? code : ExitCode.ok;
    };

  registerAuthCommands(program, run);
  registerDeviceCommands(program, run);
  registerArtifactCommands(program, run);
  registerReleaseCommands(program, run);
  registerRolloutCommands(program, run);
  registerSpecCommands(program, run);
  registerTrustCommands(program, run);
  registerAuditCommand(program, run);
  return program;
}

/**
 * Runs one command line and returns the exit code. Errors become one line on stderr (with the
 * stack only under EDGEOPS_DEBUG=1); commander's usage errors exit 2, help exits 0.
 */
export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const state = { exitCode: 0 };
  const program = buildProgram(ctx, state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help exits 0; a command group run without its subcommand shows its help as an error.
      if (error.code === 'commander.helpDisplayed' || error.exitCode === 0) return ExitCode.ok;
      return ExitCode.usage;
    }
    if (ctx.signal.aborted) return ExitCode.interrupted;
    const cliError = toCliError(error);
    ctx.terminal.stderr.write(`edgeops: ${cliError.message}\n`);
    if (ctx.env.EDGEOPS_DEBUG === '1' && error instanceof Error && error.stack)
      ctx.terminal.stderr.write(`${error.stack}\n`);
    return cliError.exitCode;
  }
}
