import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../domain/errors';
import type { RolloutTarget } from '../domain/rollout';
import type { TargetDevice, TargetResolver } from '../ports/target-resolver';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { IotApi } from '../shared/aws-api/iot';
import { BY_SITE_INDEX } from './dynamodb-fleet-store';

const PROJECTION = 'deviceId, hardwareType, site, #region, firmwareVersion, #status';

/**
 * Resolves rollout targets against the fleet table: a filter reads the site index (or scans),
 * a thing group or device list reads the named devices. Only registered devices count.
 */
export class FleetTargetResolver implements TargetResolver {
  constructor(
    private readonly dynamo: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly iot: IotApi,
  ) {}

  async resolve(target: RolloutTarget): Promise<TargetDevice[]> {
    if ('deviceIds' in target) return this.#byIds(target.deviceIds);
    if ('thingGroup' in target) return this.#byIds(await this.#thingsInGroup(target.thingGroup));
    const { site, region, hardwareType, currentVersion } = target.filter;
    const devices = await this.#readAll(site);
    return devices.filter(
      (d) =>
        (region === undefined || d.region === region) &&
        (hardwareType === undefined || d.hardwareType === hardwareType) &&
        (currentVersion === undefined || d.firmwareVersion === currentVersion),
    );
  }

  async #readAll(site: string | undefined): Promise<TargetDevice[]> {
    const devices: TargetDevice[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const common = {
        TableName: this.tableName,
        ProjectionExpression: PROJECTION,
        ExpressionAttributeNames: { '#region': 'region', '#status': 'status' },
        ExclusiveStartKey: startKey,
      };
      const page = await this.dynamo.send(
        site === undefined
          ? new ScanCommand({
              ...common,
              FilterExpression: 'entity = :device AND #status = :registered',
              ExpressionAttributeValues: { ':device': 'device', ':registered': 'registered' },
            })
          : new QueryCommand({
              ...common,
              IndexName: BY_SITE_INDEX,
              KeyConditionExpression: 'site = :site',
              FilterExpression: '#status = :registered',
              ExpressionAttributeValues: { ':site': site, ':registered': 'registered' },
            }),
      );
      devices.push(...(page.Items ?? []).map(toTarget));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return devices;
  }

  async #byIds(deviceIds: readonly string[]): Promise<TargetDevice[]> {
    const devices: TargetDevice[] = [];
    for (let i = 0; i < deviceIds.length; i += 100) {
      let request:
        | Record<
            string,
            {
              Keys: Record<string, string>[];
              ProjectionExpression: string;
              ExpressionAttributeNames: Record<string, string>;
            }
          >
        | undefined = {
        [this.tableName]: {
          Keys: deviceIds.slice(i, i + 100).map((id) => ({ pk: `DEVICE#${id}`, sk: 'DEVICE' })),
          ProjectionExpression: PROJECTION,
          ExpressionAttributeNames: { '#region': 'region', '#status': 'status' },
        },
      };
      while (request && Object.keys(request).length > 0) {
        const page = await this.dynamo.send(new BatchGetCommand({ RequestItems: request }));
        devices.push(
          ...(page.Responses?.[this.tableName] ?? []).filter((d) => d.status === 'registered').map(toTarget),
        );
        request = page.UnprocessedKeys as typeof request;
      }
    }
    return devices;
  }

  async #thingsInGroup(thingGroupName: string): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.iot
        .listThingsInThingGroup({ thingGroupName, recursive: true, maxResults: 250, nextToken })
        .catch((error: unknown) => {
          if (!isAwsApiError(error, 'ResourceNotFoundException')) throw error;
          throw new ValidationError(`Unknown thing group '${thingGroupName}'`, [
            { field: 'target.thingGroup', message: 'no such thing group' },
          ]);
        });
      names.push(...(page.things ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return names;
  }
}

function toTarget(item: Record<string, unknown>): TargetDevice {
  return {
    deviceId: String(item.deviceId),
    hardwareType: String(item.hardwareType),
    site: String(item.site),
    region: String(item.region),
    ...(typeof item.firmwareVersion === 'string' ? { firmwareVersion: item.firmwareVersion } : {}),
  };
}
