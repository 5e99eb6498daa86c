/**
 * What the CLI's exit codes mean, and the one error type every command throws: scripts branch on
 * the code, people read the single line. The table is printed by `edgeops --help`.
 */
import { ApiError } from '../operator-client/operator-api-client';

export const ExitCode = {
  /** Done; for `rollouts watch`, the rollout succeeded. */
  ok: 0,
  /** The operation ran and failed: a rollout halted, aborted or failed; a 409, 5xx or network error. */
  failure: 1,
  /** The command line or an input file (a rollout spec) is wrong, or the API refused the input (400). */
  usage: 2,
  /** Not signed in, the session expired, or the API refused the caller (401, 403). */
  auth: 3,
  /** The device, artifact, release or rollout does not exist (404). */
  notFound: 4,
  /** Stopped by Ctrl-C. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit-code table as `--help` shows it. */
export const EXIT_CODE_HELP = `Exit codes:
  0    ok (rollouts watch: the rollout succeeded)
  1    failed: a rollout halted, aborted or failed; the API answered 409 or 5xx; network error
  2    usage: bad arguments, an invalid spec file, or the API refused the input (400)
  3    auth: not signed in, session expired, or not allowed (401, 403)
  4    not found (404)
  130  interrupted (Ctrl-C)`;

/** An error the CLI reports as one line on stderr and turns into its exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failure,
  ) {
    super(message);
  }
}

/** The exit code for an HTTP status the API answered with. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400) return ExitCode.usage;
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 404) return ExitCode.notFound;
  return ExitCode.failure;
}

/**
 * One line for an API refusal: the status, the API's message and, for a 400, each field it named
 * (the API's ValidationError carries `errors: [{field, message}]`).
 */
export function describeApiError(error: ApiError): string {
  const body = error.body as { message?: unknown; errors?: unknown } | string | undefined;
  const what =
    error.status === 401
      ? 'not signed in or the session expired (run edgeops login)'
      : error.status === 403
        ? 'not allowed'
        : error.status === 404
          ? 'not found'
          : error.status === 409
            ? 'conflict'
            : error.status === 400
              ? 'refused'
              : error.status >= 500
                ? 'the API failed'
                : 'refused';
  let detail = '';
  if (typeof body === 'string') detail = body.slice(0, 300);
  else if (body && typeof body.message === 'string') detail = body.message;
  if (body && typeof body === 'object' && Array.isArray(body.errors) && !detail.includes(':')) {
    const fields = (body.errors as { field?: unknown; message?: unknown }[])
      .map((e) => `${String(e.field)}: ${String(e.message)}`)
      .join('; ');
    if (fields) detail = detail ? `${detail} (${fields})` : fields;
  }
  return `${what} (${error.status})${detail ? `: ${detail}` : ''}`;
}

/** Any thrown value → the line to print and the exit code. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ApiError)
    return new CliError(describeApiError(error), exitCodeForStatus(error.status));
  if (error instanceof Error && error.name === 'AbortError')
    return new CliError('interrupted', ExitCode.interrupted);
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return new CliError(`cannot reach the API: ${cause?.code ?? cause?.message ?? 'network error'}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(message.split('\n')[0] ?? message);
}
