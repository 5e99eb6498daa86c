import { dynamoDb } from '#clients/dynamodb';
import { safeParse } from '../../contract/zod-mini';
import { DynamoDbProvisioningAllowlist } from '../adapters/dynamodb-provisioning-allowlist';
import type { HookAnswer } from '../domain/provisioning-claim';
import { refuse } from '../domain/provisioning-claim';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeDecideProvisioningClaim } from '../use-cases/provisioning/decide-provisioning-claim';
import { PreProvisioningHookEvent } from './schemas';

const decide = makeDecideProvisioningClaim({
  allowlist: new DynamoDbProvisioningAllowlist(dynamoDb, requireEnv('ALLOWLIST_TABLE_NAME')),
  clock: systemClock,
});

/**
 * The fleet provisioning template's pre-provisioning hook: AWS IoT calls it with each
 * RegisterThing request and applies the template only if it answers `allowProvisioning: true`
 * (within 5 s). The device learns only "AccessDenied"; the reason is in this function's log, with
 * the serial and certificate, for the operator.
 */
export const handler = async (event: unknown): Promise<HookAnswer> => {
  const parsed = safeParse(PreProvisioningHookEvent, event);
  const decision = parsed.success
    ? await decide({ certificateId: parsed.data.certificateId, parameters: parsed.data.parameters })
    : refuse('malformed-request', parsed.error.issues.map((issue) => issue.message).join('; '));
  const context = {
    serial: decision.serial,
    certificateId: parsed.success ? parsed.data.certificateId : undefined,
    clientId: parsed.success ? parsed.data.clientId : undefined,
  };
  if (decision.refusal)
    logger.warn('Provisioning refused', {
      ...context,
      reason: decision.refusal.reason,
      detail: decision.refusal.message,
    });
  else logger.info('Provisioning allowed', context);
  return decision.answer;
};
