/**
 * The real reboot, for the agent as a service: a configured command (default `systemctl reboot`)
 * run without a shell, and the kernel's boot id, which tells a reboot from a restart of the agent.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export const DEFAULT_REBOOT_COMMAND: readonly string[] = ['systemctl', 'reboot'];

/** Runs `argv`; resolves once it exited 0 (the reboot then follows), rejects with its stderr otherwise. */
export function commandReboot(argv: readonly string[] = DEFAULT_REBOOT_COMMAND, timeoutMs = 30_000) {
  return () =>
    new Promise<void>((resolve, reject) => {
      const [file, ...args] = argv;
      if (!file) return reject(new Error('no reboot command configured'));
      execFile(file, args, { timeout: timeoutMs }, (error, _stdout, stderr) => {
        if (error)
          reject(
            new Error(
              `${argv.join(' ')} failed: ${String(stderr || error.message)
                .trim()
                .slice(0, 500)}`,
            ),
          );
        else resolve();
      });
    });
}

/** The kernel's id of this boot (random per boot); undefined where there is none. */
export async function kernelBootId(file = '/proc/sys/kernel/random/boot_id'): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}
