import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN, LABEL_PATTERN } from '../domain/device';

const label = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .check(z.regex(LABEL_PATTERN, `${what}: 1-64 of letters, digits and _ . @ / : # = -`));

/** Body of `POST /devices`. */
export const RegisterDeviceRequest = z.strictObject({
  deviceId: z
    .string({ error: 'deviceId is required' })
    .check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -')),
  hardwareType: label('hardwareType'),
  site: label('site'),
  region: label('region'),
});

/** Path of `GET /devices/{deviceId}`. */
export const DevicePath = z.object({
  deviceId: z.string().check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -')),
});

/** Query of `GET /devices`. */
export const ListDevicesQuery = z.strictObject({
  site: z.optional(label('site')),
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 25),
  cursor: z.optional(z.string().check(z.maxLength(2048))),
});

/** Path of `PUT|DELETE /sites/{site}/bandwidth-policy`. */
export const SitePath = z.object({ site: label('site') });
