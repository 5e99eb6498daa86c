import { Aws, Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { EdgeOpsFunction } from './edgeops-function';
import { FleetStore } from './fleet-store';
import type { OperatorApi } from './operator-api';

export interface BandwidthPoliciesProps {
  /** Device items carry a device's own policy; site items `SITE#<site>` a site's. */
  readonly fleet: FleetStore;
  readonly api: OperatorApi;
  /**
   * Scope UpdateThingShadow to thing ARNs. Local AWS checks IoT actions against `*`, so the local
   * stage turns this off.
   * @default true
   */
  readonly iotResourceLevelPermissions?: boolean;
}

/**
 * Bandwidth policies per device and per site: operators PUT or DELETE them, and each affected
 * device gets the policy it now follows in its shadow's desired state (`edgeops.bandwidthPolicy`).
 * The device and site routes each have one function for both methods, which need the same grants.
 */
export class BandwidthPolicies extends Construct {
  public readonly deviceFunction: IFunction;
  public readonly siteFunction: IFunction;

  constructor(scope: Construct, id: string, props: BandwidthPoliciesProps) {
    super(scope, id);
    const { fleet, api } = props;
    const scoped = props.iotResourceLevelPermissions ?? true;
    const environment = { FLEET_TABLE_NAME: fleet.table.tableName };

    const device = new EdgeOpsFunction(this, 'DeviceBandwidthPolicy', {
      handlerFile: 'operator-api/device-bandwidth-policy.handler.ts',
      environment,
    });
    // Reads the device and its site's policy; updates the device item.
    fleet.grantItems(device, 'GetItem', 'UpdateItem');
    grantShadowUpdates(device, scoped);

    const site = new EdgeOpsFunction(this, 'SiteBandwidthPolicy', {
      handlerFile: 'operator-api/site-bandwidth-policy.handler.ts',
      environment,
      // One shadow update per device of the site; API Gateway waits up to 29 s.
      timeout: Duration.seconds(28),
    });
    // Writes or deletes the site item; lists the site's devices through the bySite index only.
    fleet.grantItems(site, 'PutItem', 'DeleteItem');
    site.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${fleet.table.tableArn}/index/${FleetStore.BY_SITE_INDEX}`],
      }),
    );
    grantShadowUpdates(site, scoped);

    this.deviceFunction = device;
    this.siteFunction = site;
    api.addRoute('PUT', 'devices/{deviceId}/bandwidth-policy', device);
    api.addRoute('DELETE', 'devices/{deviceId}/bandwidth-policy', device);
    api.addRoute('PUT', 'sites/{site}/bandwidth-policy', site);
    api.addRoute('DELETE', 'sites/{site}/bandwidth-policy', site);
  }
}

/**
 * UpdateThingShadow on any thing (device ids are only known at run time). The data endpoint needs
 * no DescribeEndpoint: the functions use the region's `data-ats` one (aws-api/iot-data.ts).
 */
export function grantShadowUpdates(fn: EdgeOpsFunction, scoped: boolean): void {
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: ['iot:UpdateThingShadow'],
      resources: [scoped ? `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:thing/*` : '*'],
    }),
  );
  if (scoped)
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]',
      reason:
        'Shadow updates go to whichever devices an operator names or a site holds, known only at run time.',
    });
}
