import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { handler as previewRollout } from '../../functions/operator-api/rollouts/preview-rollout.handler';
import { toRolloutRequest } from '../../functions/operator-api/rollouts/request';
import { RolloutRequestBody } from '../../functions/operator-api/rollouts/schemas';

const body = (gates: unknown, patch: Record<string, unknown> = {}) => ({
  releaseId: 'rel-1.1.0',
  target: { filter: { site: 'site-a' } },
  waves: [{ count: 1, soakSeconds: 300, gates }, { percent: 100 }],
  ...patch,
});
const memoryGate = { metric: 'memory.used_mib', stat: 'p95', maxIncreasePercent: 10 };

/** `POST /rollouts/preview` as API Gateway calls it, by a viewer. */
async function preview(json: unknown) {
  const event = {
    body: JSON.stringify(json),
    isBase64Encoded: false,
    requestContext: { authorizer: { claims: { 'cognito:groups': 'viewer' } } },
  } as unknown as APIGatewayProxyEvent;
  const response = await previewRollout(event, {} as Context);
  return { status: response.statusCode, body: JSON.parse(response.body) };
}

describe('telemetry gates in a rollout request', () => {
  it('takes gates and fills in the defaults', () => {
    const parsed = RolloutRequestBody.parse(
      body([memoryGate, { metric: 'process.restarts', stat: 'ratePerHour', maxIncrease: 0.5 }]),
    );

    expect(toRolloutRequest(parsed).waves[0]?.gates).toEqual([
      { ...memoryGate, minBaselineDevices: 3, onMissingData: 'halt' },
      {
        metric: 'process.restarts',
        stat: 'ratePerHour',
        maxIncrease: 0.5,
        minBaselineDevices: 3,
        onMissingData: 'halt',
      },
    ]);
    expect(toRolloutRequest(RolloutRequestBody.parse(body(undefined))).waves[0]?.gates).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['both limits', [memoryGate, { ...memoryGate, maxIncrease: 5 }], 'waves.0.gates.1.maxIncreasePercent'],
    ['no limit', [{ metric: 'memory.used_mib', stat: 'p95' }], 'waves.0.gates.0.maxIncreasePercent'],
    [
      'a percent above 1000',
      [{ ...memoryGate, maxIncreasePercent: 1001 }],
      'waves.0.gates.0.maxIncreasePercent',
    ],
    ['a negative percent', [{ ...memoryGate, maxIncreasePercent: -1 }], 'waves.0.gates.0.maxIncreasePercent'],
    [
      'a negative absolute limit',
      [{ metric: 'cpu.percent', stat: 'mean', maxIncrease: -2 }],
      'waves.0.gates.0.maxIncrease',
    ],
    ['an unknown stat', [{ ...memoryGate, stat: 'p99' }], 'waves.0.gates.0.stat'],
    ['a metric that is no metric name', [{ ...memoryGate, metric: 'Memory Used' }], 'waves.0.gates.0.metric'],
    [
      'a fractional baseline minimum',
      [{ ...memoryGate, minBaselineDevices: 2.5 }],
      'waves.0.gates.0.minBaselineDevices',
    ],
    [
      'a baseline minimum of 0',
      [{ ...memoryGate, minBaselineDevices: 0 }],
      'waves.0.gates.0.minBaselineDevices',
    ],
    [
      'a baseline minimum above the sample',
      [{ ...memoryGate, minBaselineDevices: 101 }],
      'waves.0.gates.0.minBaselineDevices',
    ],
    [
      'an unknown onMissingData',
      [{ ...memoryGate, onMissingData: 'ignore' }],
      'waves.0.gates.0.onMissingData',
    ],
    ['an unknown field', [{ ...memoryGate, window: 60 }], 'waves.0.gates.0'],
    ['nine gates', Array.from({ length: 9 }, () => memoryGate), 'waves.0.gates'],
    ['gates that are no list', memoryGate, 'waves.0.gates'],
  ])('refuses %s with 400 naming the field, from POST /rollouts/preview', async (_case, gates, field) => {
    const response = await preview(body(gates));

    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([expect.objectContaining({ field })]);
  });
});
