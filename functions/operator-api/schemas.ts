import { z } from 'zod';
import { DEVICE_ID_PATTERN, LABEL_PATTERN } from '../domain/device';

const label = (what: string) =>
  z
    .string({ error: `${what} is required` })
    .regex(LABEL_PATTERN, `${what}: 1-64 of letters, digits and _ . @ / : # = -`);

/** Body of `POST /devices`. */
export const RegisterDeviceRequest = z.strictObject({
  deviceId: z
    .string({ error: 'deviceId is required' })
    .regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -'),
  hardwareType: label('hardwareType'),
  site: label('site'),
  region: label('region'),
});

/** Path of `GET /devices/{deviceId}`. */
export const DevicePath = z.object({
  deviceId: z.string().regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -'),
});

/** Query of `GET /devices`. */
export const ListDevicesQuery = z.strictObject({
  site: label('site').optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().max(2048).optional(),
});

/** Path of `PUT|DELETE /sites/{site}/bandwidth-policy`. */
export const SitePath = z.object({ site: label('site') });
