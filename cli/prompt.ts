/** Questions at the terminal (stderr), with secret answers not echoed. */
import { createInterface } from 'node:readline';
import { CliError, ExitCode } from './errors';
import type { Prompter } from './session';

export function terminalPrompter(): Prompter {
  return {
    say: (line) => {
      process.stderr.write(`${line}\n`);
    },
    ask: (question, options = {}) => {
      if (!process.stdin.isTTY)
        return Promise.reject(
          new CliError(`cannot ask "${question.trim()}": stdin is not a terminal`, ExitCode.usage),
        );
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      if (options.secret) {
        // readline echoes what is typed through _writeToOutput; keep the question, drop the rest.
        const internals = rl as unknown as { _writeToOutput: (text: string) => void };
        const write = internals._writeToOutput.bind(rl);
        internals._writeToOutput = (text) => {
          if (text.includes(question) || text === '\r\n' || text === '\n') write(text);
        };
      }
      return new Promise<string>((resolve, reject) => {
        rl.on('SIGINT', () => {
          rl.close();
          reject(new CliError('interrupted', ExitCode.interrupted));
        });
        rl.question(question, (answer) => {
          rl.close();
          if (options.secret) process.stderr.write('\n');
          resolve(answer);
        });
      });
    },
  };
}

/** All of stdin, for `--password-stdin`. */
export async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
