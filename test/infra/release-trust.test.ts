/**
 * The online signing keys' key policy, as synthesized: who could sign, directly or by first
 * changing the policy or making a grant. A small evaluator reads the policy as KMS does for
 * principals of the account (an explicit Deny wins; otherwise an Allow naming the principal, or
 * the account root for principals the account's IAM policies allow, is needed).
 */
import { describe, expect, it } from 'vitest';
import { ONLINE_KEY_ADMIN_ACTIONS } from '../../lib/release-trust';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  actionMatches,
  actionsCover,
  asList,
  functionId,
  identityPolicyStatements,
  type PolicyStatement,
  render,
  resourcesOfType,
  roleOfFunction,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
const ROOT = 'arn:<AWS::Partition>:iam::<AWS::AccountId>:root';

const signingKeys = (stage: StageName) =>
  Object.entries(resourcesOfType(template(stage), 'AWS::KMS::Key')).filter(
    ([, key]) => key.Properties?.KeyUsage === 'SIGN_VERIFY',
  );
const publisherRole = (stage: StageName) =>
  roleOfFunction(template(stage), functionId(template(stage), 'ReleaseTrustPublisher'));

/** A principal as the evaluator sees it: the ARN it is named by, and its aws:PrincipalArn. */
interface Principal {
  readonly named: string;
  readonly principalArn: string;
  /** Gets access through the account's IAM policies (any principal of the account can be given them). */
  readonly inAccount: boolean;
}

const principalsOf = (statement: PolicyStatement): string[] => {
  const principal = statement.Principal as { AWS?: unknown } | string | undefined;
  if (principal === '*') return ['*'];
  return asList((principal as { AWS?: unknown } | undefined)?.AWS).map(render);
};

const globMatches = (pattern: string, value: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(value);

/** Whether a statement's principal and conditions cover `who` (only ArnNotLike on aws:PrincipalArn is used here). */
function applies(statement: PolicyStatement, who: Principal): boolean {
  const named = principalsOf(statement);
  const byName = named.includes('*') || named.includes(who.named) || (who.inAccount && named.includes(ROOT));
  if (!byName) return false;
  const conditions = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
  for (const [operator, keys] of Object.entries(conditions)) {
    if (operator !== 'ArnNotLike' || Object.keys(keys).some((k) => k !== 'aws:PrincipalArn'))
      throw new Error(`The evaluator does not know condition ${operator}: extend it before relying on it`);
    const patterns = asList(keys['aws:PrincipalArn']).map(render);
    if (patterns.some((p) => globMatches(p, who.principalArn))) return false;
  }
  return true;
}

function mayDo(policy: readonly PolicyStatement[], who: Principal, action: string): boolean {
  const relevant = policy.filter((s) => actionsCover(s, action) && applies(s, who));
  if (relevant.some((s) => s.Effect === 'Deny')) return false;
  return relevant.some((s) => s.Effect === 'Allow');
}

describe.each(STAGE_NAMES)('online signing key policy in the %s stage', (stage) => {
  const policies = () =>
    signingKeys(stage).map(([id, key]) => ({ id, key, statements: statementsOf(key.Properties?.KeyPolicy) }));
  const publisher = (): Principal => ({
    named: `<${publisherRole(stage)}.Arn>`,
    principalArn: `<${publisherRole(stage)}.Arn>`,
    inAccount: true,
  });
  const administrator: Principal = {
    named: 'arn:aws:iam::<AWS::AccountId>:role/Administrator',
    principalArn: 'arn:aws:iam::<AWS::AccountId>:role/Administrator',
    inAccount: true,
  };
  const accountRoot: Principal = { named: ROOT, principalArn: ROOT, inAccount: true };

  it('has a key policy on every signing key', () => {
    expect(policies().length).toBeGreaterThan(0);
    for (const { statements } of policies()) expect(statements.length).toBeGreaterThan(0);
  });

  it('grants kms:*, kms:PutKeyPolicy or kms:CreateGrant to no one', () => {
    for (const { statements } of policies()) {
      const allows = statements.filter((s) => s.Effect === 'Allow');
      for (const statement of allows) {
        expect(asList(statement.Action)).not.toContain('kms:*');
        expect(actionsCover(statement, 'kms:PutKeyPolicy'), JSON.stringify(statement)).toBe(false);
        expect(actionsCover(statement, 'kms:CreateGrant'), JSON.stringify(statement)).toBe(false);
      }
    }
  });

  it('lets only the publisher sign: not the account root, not an administrator role', () => {
    for (const { statements } of policies()) {
      expect(mayDo(statements, publisher(), 'kms:Sign')).toBe(true);
      expect(mayDo(statements, accountRoot, 'kms:Sign')).toBe(false);
      expect(mayDo(statements, administrator, 'kms:Sign')).toBe(false);
      // A session of the publisher's role, as local AWS names it, still signs; a session of another role does not.
      expect(
        mayDo(
          statements,
          {
            ...publisher(),
            principalArn: `arn:<AWS::Partition>:sts::<AWS::AccountId>:assumed-role/<${publisherRole(stage)}>/fn`,
          },
          'kms:Sign',
        ),
      ).toBe(true);
      expect(
        mayDo(
          statements,
          { ...administrator, principalArn: 'arn:aws:sts::<AWS::AccountId>:assumed-role/Administrator/me' },
          'kms:Sign',
        ),
      ).toBe(false);
    }
  });

  it('gives no one a way to change that: no PutKeyPolicy, no CreateGrant, for anyone, publisher included', () => {
    for (const { statements } of policies())
      for (const who of [publisher(), accountRoot, administrator])
        for (const action of ['kms:PutKeyPolicy', 'kms:CreateGrant'])
          expect(mayDo(statements, who, action), `${who.named} ${action}`).toBe(false);
  });

  it('lets the account administer the key: describe, tag, disable, schedule deletion, read the public key', () => {
    for (const { statements } of policies())
      for (const action of [
        'kms:DescribeKey',
        'kms:TagResource',
        'kms:DisableKey',
        'kms:ScheduleKeyDeletion',
        'kms:GetPublicKey',
      ])
        expect(mayDo(statements, administrator, action), action).toBe(true);
  });

  it('allows the account exactly the administration actions, none of which signs or changes the policy', () => {
    for (const { statements } of policies()) {
      const rootStatements = statements.filter((s) => s.Effect === 'Allow' && principalsOf(s).includes(ROOT));
      expect(rootStatements.flatMap((s) => asList(s.Action)).sort()).toEqual(
        [...ONLINE_KEY_ADMIN_ACTIONS].sort(),
      );
    }
    for (const action of ONLINE_KEY_ADMIN_ACTIONS)
      for (const forbidden of [
        'kms:Sign',
        'kms:PutKeyPolicy',
        'kms:CreateGrant',
        'kms:Decrypt',
        'kms:ReEncrypt*',
      ])
        expect(actionMatches(action, forbidden.replace('*', 'From')), `${action} vs ${forbidden}`).toBe(
          false,
        );
  });

  it('creates the keys past the lockout safety check, on purpose: the policy can never be changed', () => {
    for (const { key } of policies()) expect(key.Properties?.BypassPolicyLockoutSafetyCheck).toBe(true);
  });

  it('lets no identity policy in the stack grant kms:PutKeyPolicy or kms:CreateGrant', () => {
    const offending = identityPolicyStatements(template(stage)).filter(
      ({ statement }) =>
        statement.Effect === 'Allow' &&
        (actionsCover(statement, 'kms:PutKeyPolicy') || actionsCover(statement, 'kms:CreateGrant')),
    );
    expect(offending).toEqual([]);
  });
});

describe('the evaluator itself', () => {
  const allowRoot: PolicyStatement = {
    Effect: 'Allow',
    Principal: { AWS: ROOT },
    Action: 'kms:*',
    Resource: '*',
  };
  const who: Principal = {
    named: 'arn:aws:iam::1:role/x',
    principalArn: 'arn:aws:iam::1:role/x',
    inAccount: true,
  };

  it("sees the default key policy's kms:* as a path to sign and to change the policy", () => {
    expect(mayDo([allowRoot], who, 'kms:Sign')).toBe(true);
    expect(mayDo([allowRoot], who, 'kms:PutKeyPolicy')).toBe(true);
  });

  it('lets an explicit deny win, unless its ArnNotLike exempts the principal', () => {
    const deny: PolicyStatement = {
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'kms:Sign',
      Resource: '*',
      Condition: { ArnNotLike: { 'aws:PrincipalArn': ['arn:aws:iam::1:role/x'] } },
    };
    expect(mayDo([allowRoot, deny], who, 'kms:Sign')).toBe(true);
    expect(mayDo([allowRoot, deny], { ...who, principalArn: 'arn:aws:iam::1:role/y' }, 'kms:Sign')).toBe(
      false,
    );
  });
});
