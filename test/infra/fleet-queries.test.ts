import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, synthesizeOnce } from './synth';
import {
  asList,
  functionGrants,
  functionId,
  outputTarget,
  type PolicyStatement,
  render,
  resourcesOfType,
  roleOfFunction,
  roleStatements,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

/** The DynamoDB statements of a function, with the partitions (LeadingKeys) each is limited to. */
function dynamoStatements(stage: (typeof STAGE_NAMES)[number], fn: string) {
  const t = template(stage);
  return roleStatements(t, roleOfFunction(t, functionId(t, fn)))
    .filter((s: PolicyStatement) => asList(s.Action).some((a) => a.startsWith('dynamodb:')))
    .map((s) => ({
      actions: asList(s.Action).sort(),
      resources: asList(s.Resource).map(render),
      partitions: s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? null,
    }));
}

/** `<METHOD> <path>` → the logical id fragment of the function it invokes. */
function routes(stage: (typeof STAGE_NAMES)[number]) {
  const t = template(stage);
  const resources = resourcesOfType(t, 'AWS::ApiGateway::Resource');
  const pathOf = (id: string): string => {
    const r = resources[id];
    if (!r) return '';
    const parent = render(r.Properties?.ParentId).replace(/^<(.+)>$/, '$1');
    return `${pathOf(parent)}/${String(r.Properties?.PathPart)}`;
  };
  return Object.values(resourcesOfType(t, 'AWS::ApiGateway::Method')).map((m) => ({
    route: `${m.Properties?.HttpMethod} ${pathOf(render(m.Properties?.ResourceId).replace(/^<(.+)>$/, '$1'))}`,
    uri: render((m.Properties?.Integration as { Uri?: unknown } | undefined)?.Uri),
    authorization: m.Properties?.AuthorizationType,
  }));
}

describe.each(STAGE_NAMES)('fleet queries in the %s stage', (stage) => {
  const table = () => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;

  it.each([
    ['GET /fleet/summary', 'FleetSummary'],
    ['GET /fleet/metrics', 'FleetMetrics'],
    ['GET /fleet/anomalies', 'FleetAnomalies'],
    ['GET /devices/{deviceId}/telemetry', 'DeviceTelemetry'],
    ['GET /devices', 'ListDevices'],
  ])('routes %s to %s behind the Cognito authorizer', (route, fn) => {
    const method = routes(stage).find((r) => r.route === route);
    expect(method?.uri).toContain(functionId(template(stage), fn));
    expect(method?.authorization).toBe('COGNITO_USER_POOLS');
  });

  it.each([
    ['FleetSummary', 'COHORTS'],
    ['FleetMetrics', 'COHORTS'],
    ['FleetAnomalies', 'ANOMALIES'],
  ])('lets %s only Query the %s partition of the fleet table', (fn, partition) => {
    expect(functionGrants(template(stage), fn)).toEqual([`dynamodb:Query on ${table()}`, ...TRACING].sort());
    expect(dynamoStatements(stage, fn)).toEqual([
      { actions: ['dynamodb:Query'], resources: [table()], partitions: [partition] },
    ]);
  });

  it('lets DeviceTelemetry only get and Query device partitions', () => {
    expect(dynamoStatements(stage, 'DeviceTelemetry')).toEqual([
      { actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [table()], partitions: ['DEVICE#*'] },
    ]);
  });

  it('lets ListDevices read bySite and byCohort, the ANOMALIES partition and device items, nothing else', () => {
    expect(functionGrants(template(stage), 'ListDevices')).toEqual(
      [
        `dynamodb:BatchGetItem on ${table()}`,
        `dynamodb:Query on ${table()}`,
        `dynamodb:Query on ${table()}/index/bySite`,
        `dynamodb:Query on ${table()}/index/byCohort`,
        `dynamodb:Scan on ${table()}/index/bySite`,
        ...TRACING,
      ].sort(),
    );
    expect(dynamoStatements(stage, 'ListDevices').filter((s) => s.resources.includes(table()))).toEqual([
      { actions: ['dynamodb:Query'], resources: [table()], partitions: ['ANOMALIES'] },
      { actions: ['dynamodb:BatchGetItem'], resources: [table()], partitions: ['DEVICE#*'] },
    ]);
  });
});
