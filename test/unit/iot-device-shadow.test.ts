import type { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { IotDeviceShadow } from '../../functions/adapters/iot-device-shadow';

describe('IotDeviceShadow', () => {
  it('writes the whole policy, unset fields as null, and null to clear it', async () => {
    const sent: { name: string; thingName: unknown; document: unknown }[] = [];
    const client = {
      send: async (command: {
        constructor: { name: string };
        input: { thingName?: string; payload?: Uint8Array };
      }) => {
        sent.push({
          name: command.constructor.name,
          thingName: command.input.thingName,
          document: JSON.parse(new TextDecoder().decode(command.input.payload)),
        });
        return {};
      },
    } as unknown as IoTDataPlaneClient;
    const shadow = new IotDeviceShadow(async () => client);
    const policy = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'UTC' });

    await shadow.setDesiredBandwidthPolicy('gw-1', policy);
    await shadow.setDesiredBandwidthPolicy('gw-1', undefined);

    expect(sent).toEqual([
      {
        name: 'UpdateThingShadowCommand',
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
        name: 'UpdateThingShadowCommand',
        thingName: 'gw-1',
        document: { state: { desired: { edgeops: { bandwidthPolicy: null } } } },
      },
    ]);
  });
});
