/**
 * The trust publisher: the only function allowed to sign with the online KMS keys (their key
 * policy names its role). It signs only what the catalog holds: images sealed by the backend,
 * deltas it built, rollbacks an operator started.
 */

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { dynamoDb } from '#clients/dynamodb';
import { kms } from '#clients/kms';
import { s3 } from '#clients/s3';
import { DynamoDbTrustStore } from '../adapters/dynamodb-trust-store';
import { KmsMetadataSigner } from '../adapters/kms-metadata-signer';
import { S3TrustFiles } from '../adapters/s3-trust-files';
import { ValidationError } from '../domain/errors';
import { DEFAULT_LIFETIMES, TrustError } from '../domain/tuf-metadata';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { clock, deltas, releases, rollouts } from '../shared/rollout-ports/stores';
import { makePublishTrust } from '../use-cases/trust/publish-trust';
import { makeSignRollout } from '../use-cases/trust/sign-rollout';
import { TrustRequestV1, type TrustResponseV1 } from './schemas';

const keyArns = requireEnv('ONLINE_KEY_ARNS').split(',').filter(Boolean);
let signers: Promise<KmsMetadataSigner[]> | undefined;
const onlineSigners = () => {
  signers ??= Promise.all(keyArns.map((arn) => KmsMetadataSigner.load(kms, arn))).catch((error) => {
    signers = undefined;
    throw error;
  });
  return signers;
};

const publish = makePublishTrust({
  store: new DynamoDbTrustStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  files: new S3TrustFiles(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
  signers: onlineSigners,
  clock,
  lifetimes: {
    ...DEFAULT_LIFETIMES,
    timestampSeconds: Number(process.env.TIMESTAMP_LIFETIME_SECONDS ?? DEFAULT_LIFETIMES.timestampSeconds),
  },
});
const signRollout = makeSignRollout({
  rollouts: rollouts(),
  releases: releases(),
  deltas: deltas(),
  publish,
  clock,
  rollbackValidHours: 7 * 24,
});

export const handler = middy<unknown, TrustResponseV1>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    try {
      const request = parseInput(TrustRequestV1, event, 'trust request');
      const result = await run(request);
      logger.info('Trust request done', { action: request.action });
      return { ok: true, result };
    } catch (error) {
      if (error instanceof TrustError || error instanceof ValidationError) {
        logger.warn('Trust request refused', { reason: error.message });
        return { ok: false, error: error.message };
      }
      throw error;
    }
  });

async function run(request: TrustRequestV1): Promise<unknown> {
  switch (request.action) {
    case 'sign-rollout':
      return signRollout(request.rolloutId);
    case 'refresh':
      return publish({ kind: 'refresh' });
    case 'set-root':
      return publish({ kind: 'root', root: request.root });
    case 'online-keys':
      return (await onlineSigners()).map((s) => ({
        keyId: s.keyId,
        kmsKeyArn: s.kmsKeyArn,
        publicKey: s.publicKey,
      }));
  }
}
