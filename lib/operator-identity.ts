import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AccountRecovery,
  CfnUserPoolGroup,
  FeaturePlan,
  type IUserPool,
  type IUserPoolClient,
  Mfa,
  UserPool,
} from 'aws-cdk-lib/aws-cognito';
import { Construct } from 'constructs';
import { OPERATOR_ROLES } from '../functions/domain/operator-role';

export interface OperatorIdentityProps {
  /**
   * Require a second factor (TOTP) at sign-in. Turn off only where nobody but scripts signs in.
   * @default true
   */
  readonly requireMfa?: boolean;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Who may call the operator API: a Cognito user pool with no self sign-up, one group per role
 * (viewer, operator, admin), and an app client for the CLI and console. The API reads the role
 * from the token's `cognito:groups` claim.
 */
export class OperatorIdentity extends Construct {
  public readonly userPool: IUserPool;
  public readonly client: IUserPoolClient;

  constructor(scope: Construct, id: string, props: OperatorIdentityProps = {}) {
    super(scope, id);
    const requireMfa = props.requireMfa ?? true;
    const userPool = new UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { username: true, email: true },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: requireMfa ? Mfa.REQUIRED : Mfa.OFF,
      mfaSecondFactor: requireMfa ? { otp: true, sms: false } : undefined,
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.ESSENTIALS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    if (!requireMfa) {
      Validations.of(userPool).acknowledge({
        id: 'AwsSolutions-COG2',
        reason: 'MFA is off only in the local stage, where scripts and tests sign in without a person.',
      });
    }
    const plusPlan =
      'Threat protection needs the Plus feature plan; operators are few, created by an admin, and need MFA outside the local stage.';
    Validations.of(userPool).acknowledge(
      { id: 'AwsSolutions-COG3', reason: plusPlan },
      { id: 'AwsSolutions-COG8', reason: plusPlan },
    );

    for (const role of OPERATOR_ROLES) {
      new CfnUserPoolGroup(this, `${role}Group`, {
        userPoolId: userPool.userPoolId,
        groupName: role,
        description: `EdgeOps ${role}`,
      });
    }

    this.client = userPool.addClient('CliClient', {
      authFlows: { userPassword: true, userSrp: true },
      generateSecret: false,
      preventUserExistenceErrors: true,
      accessTokenValidity: Duration.hours(1),
      idTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.days(7),
    });
    this.userPool = userPool;
  }
}
