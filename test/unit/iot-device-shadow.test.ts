import { describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { IotDeviceShadow } from '../../functions/adapters/iot-device-shadow';
import type { IotDataApi } from '../../functions/shared/aws-api/iot-data';

describe('IotDeviceShadow', () => {
  it('writes the whole policy, unset fields as null, and null to clear it', async () => {
    const sent: { thingName: string; document: unknown }[] = [];
    const iotData = {
      updateThingShadow: async (input: { thingName: string; document: unknown }) => {
        // As the client sends it: JSON.
        sent.push({ thingName: input.thingName, document: JSON.parse(JSON.stringify(input.document)) });
      },
    } as unknown as IotDataApi;
    const shadow = new IotDeviceShadow(iotData);
    const policy = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'UTC' });

    await shadow.setDesiredBandwidthPolicy('gw-1', policy);
    await shadow.setDesiredBandwidthPolicy('gw-1', undefined);

    expect(sent).toEqual([
      {
        thingName: 'gw-1',
        document: {
          state: {
            desired: {
              edgeops: {
                bandwidthPolicy: {
                  onMetered: 'wait',
                  timeZone: 'UTC',
                  maxBytesPerUpdate: null,
                  windows: null,
                },
              },
            },
          },
        },
      },
      {
        thingName: 'gw-1',
        document: { state: { desired: { edgeops: { bandwidthPolicy: null } } } },
      },
    ]);
  });
});
