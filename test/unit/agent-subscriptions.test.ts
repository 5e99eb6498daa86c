import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OTA_EVENT_TOPIC } from '../../contract/ota';
import { jobsTopics, shadowTopics } from '../../device/cloud/iot-topics';
import { type MqttConnection, topicMatches } from '../../device/cloud/mqtt-connection';
import { DeviceAgent } from '../../device/device-agent';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const THING = 'gw-subs-1';
/** AWS IoT Core: at most 8 topic filters in one SUBSCRIBE (a hard quota; MiniStack does not enforce it). */
const AWS_FILTERS_PER_SUBSCRIBE = 8;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An agent with OTA on the in-memory IoT core, and every SUBSCRIBE it sends. */
async function startRecordingAgent() {
  const core = new InMemoryIotCore();
  const subscribes: string[][] = [];
  const connector = core.connector(THING);
  const stateDir = await mkdtemp(join(tmpdir(), 'edgeops-subs-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const agent = new DeviceAgent({
    identity: { deviceId: THING },
    connector: () => {
      const connection = connector();
      return new Proxy(connection, {
        get(target, property, receiver) {
          if (property === 'subscribe')
            return (filters: readonly string[], qos: 0 | 1) => {
              subscribes.push([...filters]);
              return target.subscribe(filters, qos);
            };
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }) satisfies MqttConnection;
    },
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    ota: { stateDir, hardwareType: 'rpi4', fsync: false },
  });
  cleanups.push(() => agent.stop());
  await agent.start();
  await core.waitFor(() => core.reportedState(THING)?.firmwareVersion);
  return { subscribes };
}

describe('what a device subscribes to', () => {
  it('fits one SUBSCRIBE as AWS IoT allows, and receives every response it handles', async () => {
    const { subscribes } = await startRecordingAgent();

    expect(subscribes).toHaveLength(1);
    const filters = subscribes[0] ?? [];
    expect(filters.length).toBeLessThanOrEqual(AWS_FILTERS_PER_SUBSCRIBE);
    expect(new Set(filters).size).toBe(filters.length);

    const shadow = shadowTopics(THING);
    const jobs = jobsTopics(THING);
    const handled = [
      shadow.accepted,
      shadow.rejected,
      shadow.delta,
      shadow.getAccepted,
      shadow.getRejected,
      jobs.notifyNext,
      jobs.startNextAccepted,
      jobs.startNextRejected,
      `$aws/things/${THING}/jobs/job-7/update/accepted`,
      `$aws/things/${THING}/jobs/job-7/update/rejected`,
    ];
    for (const topic of handled)
      expect(
        filters.some((f) => topicMatches(f, topic)),
        topic,
      ).toBe(true);
  });

  it("never matches the device's own requests, so it does not receive them back", async () => {
    const { subscribes } = await startRecordingAgent();
    const filters = subscribes.flat();

    const own = [
      shadowTopics(THING).update,
      shadowTopics(THING).get,
      jobsTopics(THING).startNext,
      jobsTopics(THING).update('job-7'),
      OTA_EVENT_TOPIC(THING),
    ];
    for (const topic of own)
      expect(
        filters.some((f) => topicMatches(f, topic)),
        topic,
      ).toBe(false);
  });

  it("stays within the device policy's topic filters (shadow and jobs of its own thing)", async () => {
    const { subscribes } = await startRecordingAgent();
    for (const filter of subscribes.flat())
      expect(filter).toMatch(new RegExp(`^\\$aws/things/${THING}/(shadow|jobs)/`));
  });
});
