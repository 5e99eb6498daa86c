/**
 * Ctrl-C for `npm start` and `npm run demo`. The first SIGINT (or SIGTERM, SIGHUP) aborts
 * `signal`: whatever is starting stops what it started, and the script stops what runs. A second
 * Ctrl-C, or a stop that takes longer than `forceAfterMs`, exits at once; the watchdogs then end
 * local AWS and the CDK CLI, as they do when this process is killed outright.
 *
 * One Ctrl-C arrives more than once: the terminal signals the whole foreground group, and npm
 * (and tsx, when it runs the script) pass it on to their child as well. Repeats within
 * `repeatWindowMs` of the first are that echo, not a second Ctrl-C.
 */
export interface Shutdown {
  readonly signal: AbortSignal;
  /** Resolves on the first signal. */
  readonly requested: Promise<void>;
}

export function shutdownOnSignals(
  log: (line: string) => void,
  forceAfterMs = 30_000,
  repeatWindowMs = 1_500,
): Shutdown {
  const controller = new AbortController();
  let firstAt = 0;
  let resolve = () => {};
  const requested = new Promise<void>((r) => {
    resolve = r;
  });
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      if (Date.now() - firstAt < repeatWindowMs) return;
      log(`${name} again: exiting now.`);
      process.exit(130);
    }
    firstAt = Date.now();
    log(`\n${name}: stopping everything this run started (Ctrl-C again to exit at once) ...`);
    controller.abort(new Error(`Stopped by ${name}`));
    resolve();
    setTimeout(() => {
      log(`Stopping took over ${forceAfterMs / 1000} s: exiting now.`);
      process.exit(130);
    }, forceAfterMs).unref();
  };
  for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(name, onSignal);
  return { signal: controller.signal, requested };
}
