import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  AwsCustomResource,
  AwsCustomResourcePolicy,
  CustomResourceConfig,
  PhysicalResourceId,
} from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

/**
 * Turns on AWS IoT job execution events (`$aws/events/jobExecution/<jobId>/<status>`), which
 * AWS IoT publishes only once they are enabled for the account and region. CloudFormation has no
 * resource for the setting, so a custom resource calls UpdateEventConfigurations on every
 * deployment. It only ever adds JOB_EXECUTION (other event types keep their setting), and
 * deleting the stack leaves the events on: the setting is account-wide, and something else in
 * the account may rely on it.
 */
export class JobExecutionEvents extends Construct {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // The provider is a CDK singleton Lambda; run it on the runtime every EdgeOps Lambda uses.
    CustomResourceConfig.of(this).addLambdaRuntime(Runtime.NODEJS_24_X);
    const resource = new AwsCustomResource(this, 'Enable', {
      onUpdate: {
        service: 'IoT',
        action: 'UpdateEventConfigurations',
        parameters: { eventConfigurations: { JOB_EXECUTION: { Enabled: true } } },
        physicalResourceId: PhysicalResourceId.of('edgeops-job-execution-events'),
      },
      policy: AwsCustomResourcePolicy.fromStatements([
        new PolicyStatement({ actions: ['iot:UpdateEventConfigurations'], resources: ['*'] }),
      ]),
      // The call is in every Lambda runtime's SDK; no install at deploy time.
      installLatestAwsSdk: false,
      logGroup: new LogGroup(this, 'Logs', {
        retention: RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    Validations.of(resource).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'iot:UpdateEventConfigurations has no resource-level permissions.',
    });
    // The provider function is a stack-level singleton, outside this construct.
    const provider = Stack.of(this).node.findChild(
      `AWS${AwsCustomResource.PROVIDER_FUNCTION_UUID.replaceAll('-', '')}`,
    );
    Validations.of(provider).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'AWSLambdaBasicExecutionRole only allows writing CloudWatch logs.',
    });
  }
}
