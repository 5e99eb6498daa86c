import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { sqs } from '#clients/sqs';
import { CONFIG_KEYS } from '../../contract/device-config';
import * as z from '../../contract/zod-mini';
import { DynamoDbDeviceConfigStore } from '../adapters/dynamodb-device-config-store';
import { SqsConfigFanOutQueue } from '../adapters/sqs-config-fan-out-queue';
import { mergeConfig } from '../domain/device-config';
import { ForbiddenError } from '../domain/errors';
import { roleAllows, strongestRole } from '../domain/operator-role';
import type { SharedConfigScope } from '../ports/device-config-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeSetSiteBandwidthPolicyKey } from '../use-cases/bandwidth-policy-config';
import { makeListSiteConfigDrift } from '../use-cases/get-device-config';
import { makeSetSharedConfigLayer } from '../use-cases/set-config-layer';
import {
  BandwidthPolicyBody,
  ConfigDriftQuery,
  layerView,
  mergedView,
  parseLayerBody,
} from './config-schemas';
import { callerGroups, httpErrors, json, requireRole } from './http';
import { SitePath } from './schemas';

const store = new DynamoDbDeviceConfigStore(dynamoDb, requireEnv('FLEET_TABLE_NAME'));
const queue = new SqsConfigFanOutQueue(sqs, requireEnv('CONFIG_FAN_OUT_QUEUE_URL'));
const setLayer = makeSetSharedConfigLayer({ store, queue });
const listDrift = makeListSiteConfigDrift({ store });
const setPolicyKey = makeSetSiteBandwidthPolicyKey({ store, queue });

/** Each key's JSON Schema, generated once from the zod schema the backend and devices check with. */
let keySchemas: Record<string, unknown> | undefined;

/**
 * The shared layers and what reads them, one function for the routes that need the same grants:
 * - `GET /config/keys`: every configuration key and its JSON Schema;
 * - `GET|PUT /config/fleet`, `GET|PUT|DELETE /sites/{site}/config`: read or replace a layer.
 *   A write answers 202 with the layer's new version and revision once the layer is stored and
 *   the fan-out has its first page queued; devices get it within the fan-out's pace;
 * - `PUT|DELETE /sites/{site}/bandwidth-policy`: the `bandwidthPolicy` key of the site layer
 *   alone (the route from before layered configuration);
 * - `GET /sites/{site}/config/drift`: a page of the site's drifting devices.
 * Reads need `viewer`, writes `operator`.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const resource = event.resource;
    if (resource === '/config/keys') {
      keySchemas ??= Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, s]) => [k, z.toJSONSchema(s)]));
      return json(200, { keys: keySchemas });
    }
    const scope: SharedConfigScope = resource.startsWith('/config/fleet')
      ? { layer: 'fleet' }
      : { layer: 'site', site: parseInput(SitePath, event.pathParameters ?? {}, 'path').site };
    if (resource.endsWith('/config/drift') && scope.layer === 'site') {
      const query = parseInput(ConfigDriftQuery, event.queryStringParameters ?? {}, 'query');
      const page = await listDrift(scope.site, query.limit, query.cursor);
      return json(200, { site: scope.site, devices: page.items, nextCursor: page.nextCursor ?? null });
    }
    if (event.httpMethod === 'GET') {
      const fleet = await store.getSharedLayer({ layer: 'fleet' });
      if (scope.layer === 'fleet')
        return json(200, { layer: layerView(fleet), merged: mergedView(mergeConfig({ fleet })) });
      const site = await store.getSharedLayer(scope);
      return json(200, {
        site: scope.site,
        layer: layerView(site),
        fleet: layerView(fleet),
        merged: mergedView(mergeConfig({ fleet, site })),
      });
    }
    if (!roleAllows(strongestRole(callerGroups(event)), 'operator'))
      throw new ForbiddenError("This action needs the 'operator' role");
    const site = scope.layer === 'site' ? scope.site : undefined;
    const result =
      resource.endsWith('/bandwidth-policy') && site
        ? await setPolicyKey(
            site,
            event.httpMethod === 'DELETE'
              ? undefined
              : parseJsonBody(BandwidthPolicyBody, event.body, event.isBase64Encoded),
          )
        : await setLayer(
            scope,
            event.httpMethod === 'DELETE' ? {} : parseLayerBody(event.body, event.isBase64Encoded),
          );
    logger.info('Configuration layer set', {
      scope,
      version: result.layer.version,
      revision: result.merged.revision,
    });
    return json(202, {
      ...(scope.layer === 'site' ? { site: scope.site } : {}),
      layer: layerView(result.layer),
      merged: mergedView(result.merged),
      fanOut: 'queued',
    });
  });
