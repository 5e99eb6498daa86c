import { describe, expect, it } from 'vitest';
import { actionMatches, allowsAction, grants, type PolicyStatement, render } from './template-queries';

// The stack assertions compare whole roles through these helpers; a helper that silently drops
// or mangles a grant would make them pass for the wrong reason.

describe('render', () => {
  it('joins Fn::Join parts and prints Ref and Fn::GetAtt the way cdk-nag does', () => {
    const arn = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':', { 'Fn::GetAtt': ['Table', 'Arn'] }, '/x']],
    };

    expect(render(arn)).toBe('arn:<AWS::Partition>:<Table.Arn>/x');
  });
});

describe('actionMatches', () => {
  it('treats * as a glob and ignores case, as IAM does', () => {
    expect(actionMatches('kms:*', 'kms:Sign')).toBe(true);
    expect(actionMatches('KMS:sign*', 'kms:Sign')).toBe(true);
    expect(actionMatches('kms:Verify', 'kms:Sign')).toBe(false);
  });
});

describe('allowsAction', () => {
  it('counts an Allow with NotAction as allowing everything it does not list', () => {
    const statement: PolicyStatement = { Effect: 'Allow', NotAction: 'iam:*', Resource: '*' };

    expect(allowsAction(statement, 'kms:Sign')).toBe(true);
  });

  it('never counts a Deny as allowing', () => {
    expect(allowsAction({ Effect: 'Deny', Action: 'kms:*', Resource: '*' }, 'kms:Sign')).toBe(false);
  });
});

describe('grants', () => {
  it('lists one line per action and resource, merging duplicates and ignoring Deny', () => {
    const statements: PolicyStatement[] = [
      { Effect: 'Allow', Action: ['b:Two', 'a:One'], Resource: ['*', { 'Fn::GetAtt': ['Table', 'Arn'] }] },
      { Effect: 'Allow', Action: 'a:One', Resource: '*' },
      { Effect: 'Deny', Action: 'c:Three', Resource: '*' },
    ];

    expect(grants(statements)).toEqual([
      'a:One on *',
      'a:One on <Table.Arn>',
      'b:Two on *',
      'b:Two on <Table.Arn>',
    ]);
  });

  it('flags an Allow with NotAction instead of silently dropping it', () => {
    expect(grants([{ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }])).toEqual([
      expect.stringContaining('NotAction'),
    ]);
  });
});
