import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONFIG_REPORT_TOPIC,
  ConfigReportV1,
  desiredConfigState,
  EMPTY_CONFIG_REVISION,
} from '../../contract/device-config';
import { type ConfigApplier, ConfigSync, configShadowTopics } from '../../device/config/config-sync';
import { logLevelFilter } from '../../device/config/log-level';
import { DeviceAgent } from '../../device/device-agent';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const THING = 'gw-cfg-1';
const topics = configShadowTopics(THING);

class FakeSession {
  readonly published: { topic: string; payload: string }[] = [];
  async publish(topic: string, payload: string) {
    this.published.push({ topic, payload });
  }
  reports() {
    return this.published
      .filter((p) => p.topic === CONFIG_REPORT_TOPIC(THING))
      .map((p) => ConfigReportV1.parse(JSON.parse(p.payload)));
  }
}

/** A `get/accepted` answer carrying `desired` at shadow `version`. */
const accepted = (desired: Record<string, unknown>, version: number) =>
  Buffer.from(JSON.stringify({ state: { desired }, version }));

let dir: string;
let session: FakeSession;
let applied: { key: string; value: unknown }[];
const recording =
  (key: string): ConfigApplier =>
  (value) => {
    applied.push({ key, value });
  };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeops-cfg-'));
  session = new FakeSession();
  applied = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openSync(appliers: Record<string, ConfigApplier> = { logLevel: recording('logLevel') }) {
  return ConfigSync.open({ thingName: THING, appliers, file: join(dir, 'config.json'), log: () => {} });
}

describe('ConfigSync', () => {
  it('asks for the config shadow on refresh, and subscribes to its responses only', async () => {
    const sync = await openSync();
    await sync.refresh(session);

    expect(session.published.map((p) => p.topic)).toEqual([topics.get]);
    expect(sync.subscriptions).toEqual([`$aws/things/${THING}/shadow/name/config/+/+`]);
  });

  it('applies known keys, rejects unknown ones with a reason, and reports both with the revision', async () => {
    const sync = await openSync();
    // A key a newer backend knows and this agent does not.
    const desired = desiredConfigState({ logLevel: 'debug', colour: 'red' } as never);

    sync.handle(topics.getAccepted, accepted(desired, 3), session);
    await sync.settled();

    expect(applied).toEqual([{ key: 'logLevel', value: 'debug' }]);
    const [report] = session.reports();
    expect(report).toMatchObject({ seq: 1, applied: { logLevel: 'debug' } });
    expect(report?.rejected).toEqual({ colour: 'unknown key: this device has no applier for it' });
  });

  it('rejects a document whose revision does not match its values, changing nothing', async () => {
    const sync = await openSync();
    sync.handle(topics.getAccepted, accepted(desiredConfigState({ logLevel: 'info' }), 1), session);
    await sync.settled();

    sync.handle(
      topics.getAccepted,
      accepted({ revision: 'ffffffffffffffff', logLevel: 'error' }, 2),
      session,
    );
    await sync.settled();

    expect(applied).toEqual([{ key: 'logLevel', value: 'info' }]);
    expect(session.reports().at(-1)?.rejected.revision).toMatch(/does not match/);
  });

  it('keeps the previous value of a key whose applier throws, and says why', async () => {
    const sync = await openSync({
      telemetry: () => {
        throw new Error('telemetry is not enabled on this device');
      },
    });

    sync.handle(
      topics.getAccepted,
      accepted(desiredConfigState({ telemetry: { sendEverySeconds: 60 } }), 1),
      session,
    );
    await sync.settled();

    expect(sync.applied).toEqual({});
    expect(sync.rejected).toEqual({ telemetry: 'not applied: telemetry is not enabled on this device' });
  });

  it('takes the whole document from update/documents, ignores an older version, and resets a removed key', async () => {
    const sync = await openSync();
    const documents = (desired: Record<string, unknown>, version: number) =>
      Buffer.from(JSON.stringify({ current: { state: { desired }, version } }));

    sync.handle(topics.documents, documents(desiredConfigState({ logLevel: 'debug' }), 5), session);
    sync.handle(topics.documents, documents(desiredConfigState({ logLevel: 'error' }), 4), session);
    sync.handle(topics.documents, documents(desiredConfigState({}), 6), session);
    await sync.settled();

    expect(applied).toEqual([
      { key: 'logLevel', value: 'debug' },
      { key: 'logLevel', value: undefined },
    ]);
    expect(session.reports().map((r) => r.seq)).toEqual([1, 2]);
  });

  it('treats a missing shadow (404) as the empty configuration', async () => {
    const sync = await openSync();

    sync.handle(
      topics.getRejected,
      Buffer.from(JSON.stringify({ code: 404, message: 'No shadow' })),
      session,
    );
    await sync.settled();

    expect(session.reports()).toEqual([
      expect.objectContaining({ revision: EMPTY_CONFIG_REVISION, applied: {} }),
    ]);
  });

  it('re-applies what it applied before a restart, and its report sequence keeps growing', async () => {
    const first = await openSync();
    first.handle(topics.getAccepted, accepted(desiredConfigState({ logLevel: 'warning' }), 1), session);
    await first.settled();
    applied = [];

    const second = await openSync();
    second.handle(topics.getAccepted, accepted(desiredConfigState({ logLevel: 'warning' }), 1), session);
    await second.settled();

    expect(applied).toEqual([{ key: 'logLevel', value: 'warning' }]);
    expect(session.reports().map((r) => r.seq)).toEqual([1, 2]);
  });
});

describe('the agent and its config shadow', () => {
  it('may read its config shadow but not update it', async () => {
    const core = new InMemoryIotCore();
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.0.0',
      requestTimeoutMs: 2_000,
    });
    await agent.start();
    try {
      const connection = core.connector(THING)();
      await connection.connected();
      await expect(
        connection.publish(`$aws/things/${THING}/shadow/name/config/update`, '{"state":{"desired":{}}}', 1),
      ).rejects.toThrow(/Not authorized/);
      await connection.end();
    } finally {
      await agent.stop();
    }
  });

  it('applies telemetry cadence to its pipeline and rejects it without telemetry', async () => {
    const core = new InMemoryIotCore();
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.0.0',
      requestTimeoutMs: 2_000,
    });
    await agent.start();
    try {
      core.updateConfigDesired(THING, desiredConfigState({ telemetry: { sendEverySeconds: 60 } }));
      await core.waitFor(() => agent.configuration?.rejected.telemetry);
      expect(agent.configuration?.rejected.telemetry).toMatch(/telemetry is not enabled/);
    } finally {
      await agent.stop();
    }
  });
});

describe('the telemetry key', () => {
  it("sets the pipeline's sample and send intervals, and a removed key restores the agent's own", async () => {
    const core = new InMemoryIotCore();
    const stateDir = await mkdtemp(join(tmpdir(), 'edgeops-cfg-tel-'));
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.0.0',
      requestTimeoutMs: 2_000,
      telemetry: {
        stateDir,
        sampler: { sample: async () => ({ metrics: {}, health: 'healthy' }) },
        manual: true,
        sampleEverySeconds: 5,
        sendEverySeconds: 300,
        fsync: false,
      },
    });
    await agent.start();
    try {
      core.setConfig(THING, { telemetry: { sampleEverySeconds: 30, sendEverySeconds: 60 } });
      await core.waitFor(() => (agent.configuration?.applied.telemetry ? true : undefined));
      expect(agent.telemetry?.cadence).toEqual({ sampleEverySeconds: 30, sendEverySeconds: 60 });

      core.setConfig(THING, {});
      await core.waitFor(() => (agent.configuration?.applied.telemetry ? undefined : true));
      expect(agent.telemetry?.cadence).toEqual({ sampleEverySeconds: 5, sendEverySeconds: 300 });
    } finally {
      await agent.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});

describe('logLevelFilter', () => {
  it('lets everything through by default and only trouble at warning', () => {
    const lines: string[] = [];
    const log = logLevelFilter((line) => lines.push(line));
    log('connected');
    log.setLevel('warning');
    log('connected again');
    log('download failed: timeout');

    expect(lines).toEqual(['connected', 'download failed: timeout']);
  });
});
