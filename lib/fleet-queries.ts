import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ANOMALIES_PARTITION, COHORTS_PARTITION } from '../functions/adapters/fleet-partitions';
import { EdgeOpsFunction } from './edgeops-function';
import { type FleetStore, inPartitions } from './fleet-store';
import type { OperatorApi } from './operator-api';

export interface FleetQueriesProps {
  readonly fleet: FleetStore;
  readonly api: OperatorApi;
}

/**
 * The read side of fleet observability on the operator API (role viewer): the fleet summary and
 * the Prometheus export (the COHORTS partition), the flagged devices (ANOMALIES) and one device's
 * recent telemetry and alerts (its own partition). Each route has its own function, and each
 * function may Query only the partitions it reads; none can write.
 */
export class FleetQueries extends Construct {
  public readonly summary: EdgeOpsFunction;
  public readonly metrics: EdgeOpsFunction;
  public readonly anomalies: EdgeOpsFunction;
  public readonly deviceTelemetry: EdgeOpsFunction;

  constructor(scope: Construct, id: string, props: FleetQueriesProps) {
    super(scope, id);
    const { fleet, api } = props;
    const environment = { FLEET_TABLE_NAME: fleet.table.tableName };
    const fn = (name: string, handlerFile: string) =>
      new EdgeOpsFunction(this, name, { handlerFile, environment });
    const query = (grantee: EdgeOpsFunction, ...partitions: string[]) =>
      grantee.addToRolePolicy(
        new PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [fleet.table.tableArn],
          conditions: inPartitions(...partitions),
        }),
      );

    this.summary = fn('FleetSummary', 'operator-api/fleet-summary.handler.ts');
    query(this.summary, COHORTS_PARTITION);
    this.metrics = fn('FleetMetrics', 'operator-api/fleet-metrics.handler.ts');
    query(this.metrics, COHORTS_PARTITION);
    this.anomalies = fn('FleetAnomalies', 'operator-api/fleet-anomalies.handler.ts');
    query(this.anomalies, ANOMALIES_PARTITION);
    this.deviceTelemetry = fn('DeviceTelemetry', 'operator-api/device-telemetry.handler.ts');
    // The device item (is it registered?) and its TELEMETRY# and ALERT# items: device partitions only.
    this.deviceTelemetry.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [fleet.table.tableArn],
        conditions: inPartitions('DEVICE#*'),
      }),
    );

    api.addRoute('GET', 'fleet/summary', this.summary);
    api.addRoute('GET', 'fleet/metrics', this.metrics);
    api.addRoute('GET', 'fleet/anomalies', this.anomalies);
    api.addRoute('GET', 'devices/{deviceId}/telemetry', this.deviceTelemetry);
  }
}
