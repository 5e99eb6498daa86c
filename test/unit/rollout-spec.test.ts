import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/errors';
import {
  formatPath,
  parseRolloutSpec,
  RolloutSpecError,
  toRolloutRequest,
  validateRolloutSpec,
} from '../../cli/rollout-spec';
import { safeParse } from '../../contract/zod-mini';
import { RolloutRequestBody } from '../../functions/operator-api/rollouts/schemas';

const VALID = {
  apiVersion: 'edgeops/v1',
  kind: 'Rollout',
  name: 'eu-west-1.1.0',
  release: 'rel-1.1.0',
  target: { filter: { region: 'eu-west' } },
  waves: [{ count: 4, soakSeconds: 60 }, { percent: 100 }],
};

/** The problems a spec is refused with, as `path: message`. */
function problems(spec: unknown): string[] {
  try {
    validateRolloutSpec(spec, 'spec.yaml');
  } catch (error) {
    if (error instanceof RolloutSpecError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

describe('rollout spec validation', () => {
  it('accepts the example in examples/ and turns it into the API request, defaults filled', () => {
    const spec = parseRolloutSpec(
      readFileSync('examples/rollout-spec.yaml', 'utf8'),
      'examples/rollout-spec.yaml',
    );
    const request = toRolloutRequest(spec);
    expect(request.releaseId).toBe('rel-1.1.0');
    expect(request.failurePolicy).toBe('rollback');
    expect(request.waves[1]?.gates?.[0]).toMatchObject({
      metric: 'memory.used_mib',
      stat: 'p95',
      maxIncreasePercent: 10,
      onMissingData: 'halt',
    });
    // What the CLI sends is what the API's own schema takes.
    expect(safeParse(RolloutRequestBody, request).success).toBe(true);
  });

  it('fills the policies the spec leaves out as the API would', () => {
    const request = toRolloutRequest(validateRolloutSpec(VALID));
    expect(request).toMatchObject({ failurePolicy: 'halt', force: false });
    expect(request.waves[1]).toMatchObject({
      percent: 100,
      soakSeconds: 0,
      successThreshold: 100,
      maxFailures: 0,
      requireApproval: false,
    });
  });

  it.each<[string, unknown, string]>([
    ['an unknown top-level key', { ...VALID, schedule: 'now' }, 'schedule: unknown key'],
    [
      'an unknown wave key',
      { ...VALID, waves: [{ count: 1, soak: 5 }, { percent: 100 }] },
      'waves[0].soak: unknown key',
    ],
    [
      'an unknown gate key',
      {
        ...VALID,
        waves: [{ percent: 100, gates: [{ metric: 'cpu.percent', stat: 'p95', maxIncrease: 1, window: 5 }] }],
      },
      'waves[0].gates[0].window: unknown key',
    ],
    [
      'a percent above 100',
      { ...VALID, waves: [{ count: 1 }, { percent: 130 }] },
      'waves[1].percent: percent must be at most 100',
    ],
    [
      'a percent that is text',
      { ...VALID, waves: [{ count: 1 }, { percent: 'half' }] },
      'waves[1].percent: Invalid input: expected number, received string',
    ],
    [
      'a wave with both sizes',
      { ...VALID, waves: [{ count: 1, percent: 5 }] },
      'waves[0]: give exactly one of count or percent',
    ],
    ['no waves', { ...VALID, waves: [] }, 'waves: give at least one wave'],
    ['a bad release id', { ...VALID, release: '1.1.0' }, 'release: not a release id'],
    ['a missing release', { ...VALID, release: undefined }, 'release: releaseId is required'],
    [
      'a bad failure policy',
      { ...VALID, policies: { failurePolicy: 'retry' } },
      'policies.failurePolicy: Invalid option: expected one of "halt"|"rollback"',
    ],
    ['an unknown policy', { ...VALID, policies: { maxParallel: 3 } }, 'policies.maxParallel: unknown key'],
    [
      'an empty filter',
      { ...VALID, target: { filter: {} } },
      'target.filter: name at least one of site, region, hardwareType, currentVersion',
    ],
    [
      'a target of no known kind',
      { ...VALID, target: { sites: ['a'] } },
      'target: target must be one of {thingGroup}, {deviceIds} or {filter}',
    ],
    [
      'a gate with both limits',
      {
        ...VALID,
        waves: [
          {
            percent: 100,
            gates: [{ metric: 'cpu.percent', stat: 'p95', maxIncrease: 1, maxIncreasePercent: 2 }],
          },
        ],
      },
      'waves[0].gates[0].maxIncreasePercent: give exactly one of maxIncreasePercent or maxIncrease',
    ],
    ['another apiVersion', { ...VALID, apiVersion: 'v2' }, 'apiVersion: apiVersion must be edgeops/v1'],
    ['another kind', { ...VALID, kind: 'Release' }, 'kind: kind must be Rollout'],
    [
      'a name with spaces',
      { ...VALID, name: 'my rollout' },
      'name: name: 1-63 of a-z, 0-9, . _ -, starting with a letter or digit',
    ],
  ])('refuses %s, naming the field', (_case, spec, problem) => {
    expect(problems(spec)).toContain(problem);
  });

  it('reports every problem at once', () => {
    expect(problems({ ...VALID, extra: 1, waves: [{ count: 0 }] })).toEqual(
      expect.arrayContaining(['extra: unknown key', 'waves[0].count: count must be at least 1']),
    );
  });

  it('is a usage error (exit 2) whose one line names the file and the fields', () => {
    const error = (() => {
      try {
        validateRolloutSpec({ ...VALID, waves: [{ count: 1 }, { percent: 130 }] }, 'rollout.yaml');
      } catch (e) {
        return e as RolloutSpecError;
      }
    })();
    expect(error?.exitCode).toBe(ExitCode.usage);
    expect(error?.message).toBe('rollout.yaml: waves[1].percent: percent must be at most 100');
  });
});

describe('rollout spec files', () => {
  const yaml = (body: string) =>
    `apiVersion: edgeops/v1\nkind: Rollout\nname: a\nrelease: rel-1.1.0\ntarget: { filter: { site: north } }\n${body}`;

  it('gives the line of a bad value', () => {
    expect(() => parseRolloutSpec(yaml('waves:\n  - count: 2\n  - percent: 101\n'), 'r.yaml')).toThrow(
      'r.yaml: waves[1].percent (line 8): percent must be at most 100',
    );
  });

  it('gives the line of an unknown key', () => {
    expect(() => parseRolloutSpec(yaml('waves:\n  - count: 2\n    soakSecs: 10\n'), 'r.yaml')).toThrow(
      'waves[0].soakSecs (line 8): unknown key',
    );
  });

  it('refuses a duplicated key rather than keeping the last', () => {
    expect(() =>
      parseRolloutSpec(yaml('waves: [{ percent: 100 }]\nwaves: [{ count: 1 }]\n'), 'r.yaml'),
    ).toThrow(/\(file\) \(line 7\): not valid YAML: Map keys must be unique/);
  });

  it('reads JSON too', () => {
    const spec = parseRolloutSpec(JSON.stringify(VALID), 'r.json');
    expect(spec.waves).toHaveLength(2);
  });

  it('writes paths as a person reads them', () => {
    expect(formatPath(['waves', 1, 'gates', 0, 'metric'])).toBe('waves[1].gates[0].metric');
    expect(formatPath([])).toBe('(root)');
  });
});
