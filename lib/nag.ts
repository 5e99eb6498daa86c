import { Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * An ARN as cdk-nag prints it in a finding id: `<LogicalId.Arn>` for a resource of the stack, the
 * literal ARN otherwise. Acknowledgements name findings this way (`AwsSolutions-IAM5[Resource::…]`).
 */
export function nagArn(scope: Construct, arn: string): string {
  if (!Token.isUnresolved(arn)) return arn;
  const resolved: unknown = Stack.of(scope).resolve(arn);
  const getAtt = (resolved as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
  throw new Error(`Cannot name ${JSON.stringify(resolved)} as cdk-nag does`);
}
