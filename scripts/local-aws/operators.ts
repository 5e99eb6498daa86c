/** Operator accounts in the stack's Cognito user pool, for local runs and tests. */
import { randomBytes } from 'node:crypto';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  type CognitoIdentityProviderClient,
  InitiateAuthCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import type { OperatorRole } from '../../functions/domain/operator-role';
import type { StackOutputs } from './deploy';

export interface Operator {
  readonly username: string;
  readonly password: string;
  /** Cognito ID token: send it as the Authorization header. */
  readonly idToken: string;
}

/** Creates a user (in `role`'s group unless role is undefined) and signs it in. */
export async function createOperator(
  outputs: StackOutputs,
  username: string,
  role: OperatorRole | undefined,
  client: CognitoIdentityProviderClient,
): Promise<Operator> {
  const password = `Aa1!${randomBytes(12).toString('base64url')}`;
  const UserPoolId = outputs.UserPoolId;
  await client.send(
    new AdminCreateUserCommand({ UserPoolId, Username: username, MessageAction: 'SUPPRESS' }),
  );
  await client.send(
    new AdminSetUserPasswordCommand({ UserPoolId, Username: username, Password: password, Permanent: true }),
  );
  if (role)
    await client.send(new AdminAddUserToGroupCommand({ UserPoolId, Username: username, GroupName: role }));
  const auth = await client.send(
    new InitiateAuthCommand({
      ClientId: outputs.UserPoolClientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  );
  const idToken = auth.AuthenticationResult?.IdToken;
  if (!idToken) throw new Error(`Cognito returned no ID token for ${username}`);
  return { username, password, idToken };
}
