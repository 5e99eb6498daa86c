/**
 * `edgeops`: the operator CLI (`npx edgeops --help`). Wires the real terminal, config folder,
 * Cognito and API into the program and exits with its code.
 */
import { defaultContext } from './context';
import { runCli } from './program';
import { readAllStdin, terminalPrompter } from './prompt';

const interrupted = new AbortController();
process.once('SIGINT', () => {
  interrupted.abort();
  // A second Ctrl-C, or a command that does not listen, still ends the process.
  setTimeout(() => process.exit(130), 2000).unref();
});

const code = await runCli(
  process.argv.slice(2),
  defaultContext({
    terminal: {
      stdout: process.stdout,
      stderr: process.stderr,
      stdoutIsTty: process.stdout.isTTY === true,
      stderrIsTty: process.stderr.isTTY === true,
      ...(process.stdout.columns ? { columns: process.stdout.columns } : {}),
    },
    prompter: terminalPrompter(),
    readStdin: readAllStdin,
    signal: interrupted.signal,
  }),
);
process.exitCode = code;
