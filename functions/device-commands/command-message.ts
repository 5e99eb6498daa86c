import { DeviceInventoryV1, UploadUrlRequestV1 } from '../../contract/device-commands';
import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN } from '../domain/device';
import { ValidationError } from '../domain/errors';
import { parseInput } from '../shared/parse';

/**
 * What the commands rule forwards (V1): `encode(*, 'base64') AS payload, topic(3) AS deviceId,
 * topic(5) AS kind` from `edgeops/devices/<deviceId>/commands/<kind>`. The device's message stays
 * whole inside `payload`, so nothing in it can stand in for `deviceId`: the topic names the
 * sender, and the device's IoT policy lets it publish under its own id only.
 */
export const CommandMessageEnvelopeV1 = z.object({
  payload: z.string().check(z.maxLength(200_000)),
  deviceId: z.string().check(z.regex(DEVICE_ID_PATTERN, 'not a valid device id')),
  kind: z.enum(['upload-url', 'inventory']),
});
export type CommandMessageEnvelopeV1 = z.output<typeof CommandMessageEnvelopeV1>;

export type CommandMessage =
  | { readonly kind: 'upload-url'; readonly deviceId: string; readonly request: UploadUrlRequestV1 }
  | { readonly kind: 'inventory'; readonly deviceId: string; readonly inventory: DeviceInventoryV1 };

/** The device's message out of its envelope; a ValidationError (logged, dropped) if it is not one. */
export function openCommandMessage(envelope: CommandMessageEnvelopeV1): CommandMessage {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
  } catch {
    throw new ValidationError(`${envelope.kind} message from ${envelope.deviceId} is not JSON`);
  }
  return envelope.kind === 'upload-url'
    ? {
        kind: 'upload-url',
        deviceId: envelope.deviceId,
        request: parseInput(UploadUrlRequestV1, json, 'upload URL request'),
      }
    : {
        kind: 'inventory',
        deviceId: envelope.deviceId,
        inventory: parseInput(DeviceInventoryV1, json, 'inventory'),
      };
}
