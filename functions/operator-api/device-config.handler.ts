import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iotData } from '#clients/iot-data-plane';
import { DynamoDbDeviceConfigStore } from '../adapters/dynamodb-device-config-store';
import { IotConfigShadow } from '../adapters/iot-config-shadow';
import { ForbiddenError } from '../domain/errors';
import { roleAllows, strongestRole } from '../domain/operator-role';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeSetDeviceBandwidthPolicyKey } from '../use-cases/bandwidth-policy-config';
import { makeGetDeviceConfig } from '../use-cases/get-device-config';
import { makeSetDeviceConfigLayer } from '../use-cases/set-config-layer';
import { BandwidthPolicyBody, layerView, mergedView, parseLayerBody } from './config-schemas';
import { callerGroups, httpErrors, json, requireRole } from './http';
import { DevicePath } from './schemas';

const store = new DynamoDbDeviceConfigStore(dynamoDb, requireEnv('FLEET_TABLE_NAME'));
const ports = { store, shadow: new IotConfigShadow(iotData) };
const setLayer = makeSetDeviceConfigLayer(ports);
const getConfig = makeGetDeviceConfig(ports);
const setPolicyKey = makeSetDeviceBandwidthPolicyKey(ports);

/**
 * A device's own configuration layer: `GET|PUT|DELETE /devices/{deviceId}/config`, and the
 * bandwidth policy key alone through its older routes `PUT|DELETE /devices/{deviceId}/bandwidth-policy`.
 * A write replaces the layer (or the one key), then delivers the merged configuration to the
 * device's `config` shadow before answering. GET needs `viewer`, writes `operator`.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    if (event.httpMethod === 'GET') {
      const view = await getConfig(deviceId);
      return json(200, {
        deviceId,
        site: view.site,
        layers: {
          fleet: layerView(view.layers.fleet),
          site: layerView(view.layers.site),
          device: layerView(view.layers.device),
        },
        desired: mergedView(view.desired),
        delivery: view.delivery,
        reported: view.reported ?? null,
        drift: view.drift,
      });
    }
    if (!roleAllows(strongestRole(callerGroups(event)), 'operator'))
      throw new ForbiddenError("This action needs the 'operator' role");
    const alias = event.resource.endsWith('/bandwidth-policy');
    if (!alias) {
      const values = event.httpMethod === 'DELETE' ? {} : parseLayerBody(event.body, event.isBase64Encoded);
      const result = await setLayer(deviceId, values);
      logger.info('Device configuration layer set', {
        deviceId,
        revision: result.merged.revision,
        delivery: result.delivery,
      });
      return json(200, {
        deviceId,
        layer: layerView(result.layer),
        desired: mergedView(result.merged),
        delivery: result.delivery,
      });
    }
    const policy =
      event.httpMethod === 'DELETE'
        ? undefined
        : parseJsonBody(BandwidthPolicyBody, event.body, event.isBase64Encoded);
    const result = await setPolicyKey(deviceId, policy);
    return json(200, {
      deviceId,
      bandwidthPolicy: policy ?? null,
      effective: { source: result.effective.source, bandwidthPolicy: result.effective.policy ?? null },
      revision: result.revision,
    });
  });
