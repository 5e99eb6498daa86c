import { describe, expect, it } from 'vitest';
import { AUDIT_TABLE_ENV } from '../../functions/domain/audit';
import { synthesizeOnce } from './synth';
import {
  actionsCover,
  asList,
  functionGrants,
  identityPolicyStatements,
  render,
  resourcesOfType,
  roleOfFunction,
  roleStatements,
} from './template-queries';

const template = synthesizeOnce('local');

/** The audit table's logical id: the one table whose id names the audit trail. */
function auditTableId(): string {
  const ids = Object.keys(resourcesOfType(template('local'), 'AWS::DynamoDB::Table')).filter((id) =>
    id.includes('Audit'),
  );
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

/** Lambda logical id → the API methods it serves, with the last part of their path. */
function lambdaMethods(): Map<string, { method: string; pathPart: string }[]> {
  const byLambda = new Map<string, { method: string; pathPart: string }[]>();
  const resources = resourcesOfType(template('local'), 'AWS::ApiGateway::Resource');
  for (const method of Object.values(resourcesOfType(template('local'), 'AWS::ApiGateway::Method'))) {
    const props = method.Properties as {
      HttpMethod: string;
      ResourceId?: { Ref?: string };
      Integration?: { Uri?: unknown };
    };
    const match = /<([A-Za-z0-9]+)\.Arn>/.exec(render(props.Integration?.Uri));
    if (!match?.[1]) continue;
    const pathPart = String(
      (resources[props.ResourceId?.Ref ?? '']?.Properties as { PathPart?: string } | undefined)?.PathPart ??
        '',
    );
    byLambda.set(match[1], [...(byLambda.get(match[1]) ?? []), { method: props.HttpMethod, pathPart }]);
  }
  return byLambda;
}

describe('audit trail (lib/audit-trail.ts, OperatorApi.addRoute)', () => {
  it('gives every Lambda behind a state-changing route the audit table and PutItem on it', () => {
    const table = auditTableId();
    // Previews (POST …/preview) take their question as a body but write nothing: not audited.
    const mutating = [...lambdaMethods()].filter(([, methods]) =>
      methods.some((m) => m.method !== 'GET' && m.pathPart !== 'preview'),
    );
    expect(mutating.length).toBeGreaterThan(8);
    for (const [fn] of mutating) {
      const fnProps = resourcesOfType(template('local'), 'AWS::Lambda::Function')[fn]?.Properties as
        | { Environment?: { Variables?: Record<string, unknown> } }
        | undefined;
      const env = fnProps?.Environment?.Variables;
      expect(env?.[AUDIT_TABLE_ENV], fn).toEqual({ Ref: table });
      const statements = roleStatements(template('local'), roleOfFunction(template('local'), fn));
      expect(
        statements.some(
          (s) =>
            s.Effect === 'Allow' &&
            actionsCover(s, 'dynamodb:PutItem') &&
            asList(s.Resource).some((r) => render(r) === `<${table}.Arn>`),
        ),
        fn,
      ).toBe(true);
    }
  });

  it('lets nothing in the stack update or delete an audit entry', () => {
    const table = auditTableId();
    const touching = identityPolicyStatements(template('local')).filter(
      ({ statement }) =>
        statement.Effect === 'Allow' &&
        asList(statement.Resource).some((r) => render(r).includes(table) || render(r) === '*') &&
        [
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:PartiQLUpdate',
          'dynamodb:PartiQLDelete',
        ].some((action) => actionsCover(statement, action)),
    );
    expect(touching.map((t) => t.source)).toEqual([]);
  });

  it('lets GET /audit only Query the table', () => {
    expect(
      functionGrants(template('local'), 'ListAuditEntries').filter((g) => g.includes('dynamodb:')),
    ).toEqual([`dynamodb:Query on <${auditTableId()}.Arn>`]);
  });

  it('keeps entries encrypted, recoverable and expiring by TTL', () => {
    const props = resourcesOfType(template('local'), 'AWS::DynamoDB::Table')[auditTableId()]
      ?.Properties as Record<string, unknown>;
    expect(props.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(props.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(props.SSESpecification).toEqual({ SSEEnabled: true });
  });
});
