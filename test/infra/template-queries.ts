import type { Template } from 'aws-cdk-lib/assertions';

/** A resource as it appears in a synthesized template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly DeletionPolicy?: string;
}

/** One statement of an IAM (or IoT) policy document, as CDK renders it. */
export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly NotAction?: string | string[];
  readonly Resource?: unknown;
  readonly NotResource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

interface PolicyDocument {
  readonly Statement: PolicyStatement | PolicyStatement[];
}

export function asList<T>(value: T | readonly T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as readonly T[])] : [value as T];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A template value as one string: `Fn::Join` is joined, `Ref` and `Fn::GetAtt` become
 * `<LogicalId>` / `<LogicalId.Attr>` (the way cdk-nag prints them), so ARNs built from tokens
 * can be compared as text: `arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*`.
 */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (isRecord(value)) {
    if (typeof value.Ref === 'string') return `<${value.Ref}>`;
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
    const join = value['Fn::Join'];
    if (Array.isArray(join)) {
      const [separator, parts] = join as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  return JSON.stringify(value);
}

export function resourcesOfType(template: Template, type: string): Record<string, CfnResource> {
  return template.findResources(type) as Record<string, CfnResource>;
}

export function resource(template: Template, logicalId: string): CfnResource {
  const found = (template.toJSON() as { Resources: Record<string, CfnResource> }).Resources[logicalId];
  if (!found) throw new Error(`No resource ${logicalId} in the template`);
  return found;
}

/**
 * The logical id of the resource a stack output names (`{ Ref }` or `{ Fn::GetAtt }`). Outputs
 * are the stack's public contract, so they identify "the" table, bucket or key without relying on
 * construct ids.
 */
export function outputTarget(template: Template, outputName: string): string {
  const output = template.findOutputs(outputName)[outputName] as { Value?: unknown } | undefined;
  const value = output?.Value;
  if (isRecord(value)) {
    if (typeof value.Ref === 'string') return value.Ref;
    const getAtt = value['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  }
  throw new Error(`Output ${outputName} does not reference a resource: ${JSON.stringify(value)}`);
}

export function statementsOf(document: unknown): PolicyStatement[] {
  return asList((document as PolicyDocument | undefined)?.Statement);
}

/** IAM action patterns are globs (`*`, `?`) and case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 'i').test(action);
}

/** Whether a statement (Allow or Deny) applies to `action`, through Action or NotAction. */
export function actionsCover(statement: PolicyStatement, action: string): boolean {
  if (statement.NotAction !== undefined) {
    return !asList(statement.NotAction).some((pattern) => actionMatches(pattern, action));
  }
  return asList(statement.Action).some((pattern) => actionMatches(pattern, action));
}

/** Whether an Allow statement lets its principal perform `action` (on some resource). */
export function allowsAction(statement: PolicyStatement, action: string): boolean {
  return statement.Effect === 'Allow' && actionsCover(statement, action);
}

const refersTo = (value: unknown, logicalId: string) => isRecord(value) && value.Ref === logicalId;

export interface SourcedStatement {
  /** Logical id of the policy (or role, for inline policies) the statement belongs to. */
  readonly source: string;
  readonly statement: PolicyStatement;
}

/** Every statement of every identity policy: IAM policies, managed policies, roles' inline policies. */
export function identityPolicyStatements(template: Template): SourcedStatement[] {
  const policies = {
    ...resourcesOfType(template, 'AWS::IAM::Policy'),
    ...resourcesOfType(template, 'AWS::IAM::ManagedPolicy'),
  };
  const fromPolicies = Object.entries(policies).flatMap(([source, policy]) =>
    statementsOf(policy.Properties?.PolicyDocument).map((statement) => ({ source, statement })),
  );
  const fromRoles = Object.entries(resourcesOfType(template, 'AWS::IAM::Role')).flatMap(([source, role]) =>
    asList(role.Properties?.Policies as { PolicyDocument: unknown }[] | undefined).flatMap((inline) =>
      statementsOf(inline.PolicyDocument).map((statement) => ({ source, statement })),
    ),
  );
  return [...fromPolicies, ...fromRoles];
}

/** The logical id of the one Lambda function whose logical id contains `idFragment`. */
export function functionId(template: Template, idFragment: string): string {
  const ids = Object.keys(resourcesOfType(template, 'AWS::Lambda::Function')).filter((id) =>
    id.includes(idFragment),
  );
  if (ids.length !== 1 || !ids[0]) {
    throw new Error(`Expected one Lambda function matching ${idFragment}, found [${ids.join(', ')}]`);
  }
  return ids[0];
}

/** The logical id of the execution role of a Lambda function. */
export function roleOfFunction(template: Template, functionLogicalId: string): string {
  const role = resource(template, functionLogicalId).Properties?.Role;
  const getAtt = isRecord(role) ? role['Fn::GetAtt'] : undefined;
  if (!Array.isArray(getAtt) || typeof getAtt[0] !== 'string') {
    throw new Error(`${functionLogicalId} does not use a role from this stack: ${JSON.stringify(role)}`);
  }
  return getAtt[0];
}

/** All identity-policy statements that apply to a role: attached policies and inline ones. */
export function roleStatements(template: Template, roleLogicalId: string): PolicyStatement[] {
  const policies = {
    ...resourcesOfType(template, 'AWS::IAM::Policy'),
    ...resourcesOfType(template, 'AWS::IAM::ManagedPolicy'),
  };
  const attached = Object.values(policies)
    .filter((policy) => asList(policy.Properties?.Roles).some((role) => refersTo(role, roleLogicalId)))
    .flatMap((policy) => statementsOf(policy.Properties?.PolicyDocument));
  const inline = asList(
    resource(template, roleLogicalId).Properties?.Policies as { PolicyDocument: unknown }[] | undefined,
  ).flatMap((policy) => statementsOf(policy.PolicyDocument));
  return [...attached, ...inline];
}

/**
 * What a set of statements allows, one `action on resource` line per pair, sorted and
 * de-duplicated, so a whole role can be compared with its intended grants in one assertion
 * however CDK happens to merge statements.
 */
export function grants(statements: readonly PolicyStatement[]): string[] {
  const lines = statements.flatMap((statement) => {
    if (statement.Effect !== 'Allow') return [];
    if (statement.NotAction !== undefined || statement.NotResource !== undefined) {
      return [`NotAction/NotResource statement ${JSON.stringify(statement)}`];
    }
    const resources = asList(statement.Resource).map(render);
    return asList(statement.Action).flatMap((action) => resources.map((r) => `${action} on ${r}`));
  });
  return [...new Set(lines)].sort();
}

/** The grants held by the execution role of the one function whose logical id contains `idFragment`. */
export function functionGrants(template: Template, idFragment: string): string[] {
  return grants(roleStatements(template, roleOfFunction(template, functionId(template, idFragment))));
}
