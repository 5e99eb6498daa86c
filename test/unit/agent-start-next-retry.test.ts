import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MqttConnection } from '../../device/cloud/mqtt-connection';
import { DeviceAgent } from '../../device/device-agent';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const THING = 'gw-start-next-1';
const JOB = 'job-lost-answer';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The thing's sessions on `core`, except that the first answer to start-next never arrives. */
function losingFirstStartNextAnswer(core: InMemoryIotCore) {
  const connector = core.connector(THING);
  let lost = 0;
  return () => {
    const connection = connector();
    return new Proxy(connection, {
      get(target, property, receiver) {
        if (property === 'onMessage')
          return (listener: (topic: string, payload: Buffer) => void) =>
            target.onMessage((topic, payload) => {
              if (topic.endsWith('/jobs/start-next/accepted') && lost++ === 0) return;
              listener(topic, payload);
            });
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) satisfies MqttConnection;
  };
}

describe('DeviceAgent start-next without an answer', () => {
  it('asks again, and takes up the execution the service started meanwhile', async () => {
    const core = new InMemoryIotCore();
    const logs: string[] = [];
    const stateDir = await mkdtemp(join(tmpdir(), 'edgeops-start-next-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: losingFirstStartNextAnswer(core),
      firmwareVersion: '1.0.0',
      requestTimeoutMs: 200,
      log: (line) => logs.push(line),
      ota: { stateDir, hardwareType: 'rpi4', fsync: false, timeFactor: 0.001 },
    });
    cleanups.push(() => agent.stop());
    await agent.start();

    // Not a job document the agent can run: once it has the execution, it refuses the job.
    core.createJob(JOB, { operation: 'not-an-ota-job' }, [THING]);

    await vi.waitFor(() => expect(logs.some((line) => line.includes(`rejected job ${JOB}`))).toBe(true), {
      timeout: 3_000,
    });
    expect(logs.filter((line) => line.includes('No start-next response'))).toHaveLength(1);
    expect(core.startNextRequests(THING)).toBe(2);
    expect(core.execution(THING, JOB)?.status).not.toBe('QUEUED');
  });
});
