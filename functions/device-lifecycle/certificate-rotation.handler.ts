import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { iotDataPublish } from '#clients/iot-lifecycle';
import {
  CertificateRotationConfirmV1,
  CertificateRotationRequestV1,
  type RotationReplyV1,
} from '../../contract/certificate-rotation';
import { DEVICE_ID_PATTERN } from '../../contract/identifiers';
import { IotRotationReplies } from '../adapters/iot-rotation-replies';
import { ValidationError } from '../domain/errors';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import {
  makeConfirmCertificateRotation,
  makeRequestCertificateRotation,
} from '../use-cases/rotate-device-certificate';
import { lifecyclePorts } from './lifecycle-ports';

const ports = { ...lifecyclePorts(), replies: new IotRotationReplies(iotDataPublish) };
const maxIssued = Number(process.env.ROTATION_MAX_ISSUED_PER_DAY ?? '4');
const requestRotation = makeRequestCertificateRotation({
  ...ports,
  rateLimit: {
    maxIssued: Number.isInteger(maxIssued) && maxIssued > 0 ? maxIssued : 4,
    windowSeconds: 24 * 3600,
  },
});
const confirmRotation = makeConfirmCertificateRotation(ports);

/**
 * The fields the rotation rule adds to the device's JSON (lib/device-lifecycle.ts): the device id
 * and step from the topic, and the certificate the message came over (`principal()`). The rule
 * drops messages that carry these names themselves, so a device cannot claim another certificate.
 */
const ENVELOPE = ['edgeopsDeviceId', 'edgeopsStep', 'edgeopsPrincipal'] as const;

const processor = new BatchProcessor(EventType.SQS);

/**
 * One rotation message: a request or a confirmation, from the rule's queue. A message that does
 * not parse gets a `rejected` reply naming the field (when its device id is known), and is not
 * retried; an AWS error fails the record alone, and SQS hands it out again (the use cases are
 * idempotent per request id).
 */
async function applyRecord(record: SQSRecord): Promise<void> {
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(record.body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    json = parsed as Record<string, unknown>;
  } catch {
    logger.warn('Rejected rotation message: not a JSON object', { messageId: record.messageId });
    return;
  }
  const { edgeopsDeviceId: deviceId, edgeopsStep: step, edgeopsPrincipal: principal } = json;
  const message = Object.fromEntries(
    Object.entries(json).filter(([key]) => !(ENVELOPE as readonly string[]).includes(key)),
  );
  if (
    typeof deviceId !== 'string' ||
    !DEVICE_ID_PATTERN.test(deviceId) ||
    (step !== 'rotate' && step !== 'confirm')
  ) {
    logger.warn('Rejected rotation message: no device id or step from the rule', {
      messageId: record.messageId,
    });
    return;
  }
  let reply: RotationReplyV1;
  try {
    reply =
      step === 'rotate'
        ? await requestRotation(
            deviceId,
            parseInput(CertificateRotationRequestV1, message, 'rotation request'),
          )
        : await confirmRotation(
            deviceId,
            parseInput(CertificateRotationConfirmV1, message, 'rotation confirmation'),
            typeof principal === 'string' ? principal : undefined,
          );
  } catch (error) {
    if (!(error instanceof ValidationError)) {
      logger.error('Could not apply rotation message; it will be retried', { error, deviceId, step });
      throw error;
    }
    reply = {
      schema: 'edgeops.certificate-rotation.reply.v1',
      step,
      verdict: 'rejected',
      ...(typeof message.requestId === 'string' ? { requestId: message.requestId.slice(0, 64) } : {}),
      code: 'invalid-request',
      message: error.message,
    };
    await ports.replies.send(deviceId, reply);
  }
  if (reply.verdict === 'accepted')
    logger.info('Certificate rotation', {
      deviceId,
      step,
      requestId: reply.requestId,
      certificateId: reply.certificateId,
    });
  else
    logger.warn('Certificate rotation refused', { deviceId, step, code: reply.code, reason: reply.message });
}

/** Takes the devices' rotation requests and confirmations from their queue, in batches. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => processPartialResponse(event, applyRecord, processor, { context }));
