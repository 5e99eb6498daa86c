/**
 * Rollout specs as code: a YAML (or JSON) file that declares one rollout, checked strictly before
 * anything is sent. Its `target`, `waves` (with their gates) and policies are the backend's own
 * schema for `POST /rollouts` (functions/operator-api/rollouts/schemas.ts), imported rather than
 * copied, so a spec the CLI accepts is a request the API accepts, and the two cannot drift.
 *
 * ```yaml
 * apiVersion: edgeops/v1
 * kind: Rollout
 * name: eu-west-1.1.0
 * release: rel-1.1.0
 * target: { filter: { region: eu-west } }
 * waves:
 *   - { count: 6, soakSeconds: 600 }
 *   - { percent: 100, soakSeconds: 600, successThreshold: 95, maxFailures: 2 }
 * policies: { failurePolicy: rollback }
 * ```
 */

import { LineCounter, parseDocument } from 'yaml';
import type { $ZodIssue } from 'zod/v4/core';
import * as z from '../contract/zod-mini';
import { RolloutRequestBody } from '../functions/operator-api/rollouts/schemas';
import { CliError, ExitCode } from './errors';

export const SPEC_API_VERSION = 'edgeops/v1';

const body = RolloutRequestBody.shape;

const Policies = z.strictObject({
  /** What a failed wave does: stop (`halt`), or also send the updated devices back (`rollback`). */
  failurePolicy: body.failurePolicy,
  /** Take devices another active rollout holds. */
  force: body.force,
});

/** A rollout spec file, after parsing. */
export const RolloutSpec = z.strictObject({
  apiVersion: z.literal(SPEC_API_VERSION, { error: `apiVersion must be ${SPEC_API_VERSION}` }),
  kind: z.literal('Rollout', { error: 'kind must be Rollout' }),
  /** Names the rollout for people; `apply` refuses to start a second rollout of the same release and target. */
  name: z
    .string({ error: 'name is required' })
    .check(
      z.regex(
        /^[a-z0-9][a-z0-9._-]{0,62}$/,
        'name: 1-63 of a-z, 0-9, . _ -, starting with a letter or digit',
      ),
    ),
  description: z.optional(z.string().check(z.maxLength(500))),
  release: body.releaseId,
  target: body.target,
  waves: body.waves,
  policies: z.optional(Policies),
});
export type RolloutSpec = z.infer<typeof RolloutSpec>;

/** One refused field: where (`waves[1].percent`), why, and the line in the file when known. */
export interface SpecProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
}

export class RolloutSpecError extends CliError {
  constructor(
    readonly file: string,
    readonly problems: readonly SpecProblem[],
  ) {
    super(
      `${file}: ${problems.map((p) => `${p.path}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`).join('; ')}`,
      ExitCode.usage,
    );
  }
}

/** `['waves', 1, 'percent']` → `waves[1].percent`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

function problemsOf(issues: readonly $ZodIssue[]): { path: PropertyKey[]; message: string }[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }));
    if (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.message === 'Invalid input') {
      // No message of its own: the closest alternative's problems say the most.
      const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      return problemsOf(closest).map((p) => ({ path: [...issue.path, ...p.path], message: p.message }));
    }
    return [{ path: [...issue.path], message: issue.message }];
  });
}

/** Checks a parsed document; every problem names its field. */
export function validateRolloutSpec(input: unknown, file = 'spec'): RolloutSpec {
  const result = z.safeParse(RolloutSpec, input);
  if (result.success) return result.data;
  throw new RolloutSpecError(
    file,
    problemsOf(result.error.issues).map((p) => ({ path: formatPath(p.path), message: p.message })),
  );
}

/**
 * Parses YAML or JSON (JSON is YAML) text and validates it; problems carry their line. Duplicate
 * keys, tabs and other YAML errors are refused too.
 */
export function parseRolloutSpec(text: string, file = 'spec'): RolloutSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const line = error ? lineCounter.linePos(error.pos[0]).line : undefined;
    throw new RolloutSpecError(file, [
      {
        path: '(file)',
        message: `not valid YAML: ${error?.message.split('\n')[0] ?? 'unreadable'}`,
        ...(line ? { line } : {}),
      },
    ]);
  }
  const value: unknown = doc.toJS();
  // The nearest node that exists: a missing key has no line, its object has.
  const lineOf = (path: readonly PropertyKey[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true) as
        | { range?: [number, number, number] }
        | undefined;
      if (node?.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const result = z.safeParse(RolloutSpec, value);
  if (result.success) return result.data;
  throw new RolloutSpecError(
    file,
    problemsOf(result.error.issues).map((p) => {
      const line = lineOf(p.path);
      return { path: formatPath(p.path), message: p.message, ...(line ? { line } : {}) };
    }),
  );
}

/** The `POST /rollouts` (and preview) body a spec stands for. */
export function toRolloutRequest(spec: RolloutSpec) {
  return {
    releaseId: spec.release,
    target: spec.target,
    waves: spec.waves,
    failurePolicy: spec.policies?.failurePolicy ?? 'halt',
    force: spec.policies?.force ?? false,
  };
}
