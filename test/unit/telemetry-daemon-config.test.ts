import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentConfig, ConfigError, parseAgentConfig } from '../../device/daemon/agent-config';
import { agentOptions } from '../../device/daemon/agent-daemon';
import { SystemSampler } from '../../device/telemetry/system-sampler';
import {
  closedPort,
  type DaemonProcess,
  daemonConfig,
  type IdentityFiles,
  selfSignedIdentity,
  startDaemon,
  writeConfig,
} from '../support/agent-daemon';

const PATH = '/etc/edgeops/agent.json';
const parse = (telemetry?: unknown) =>
  parseAgentConfig(
    JSON.stringify({
      deviceId: 'gw-1',
      hardwareType: 'rpi4',
      factoryVersion: '1.0.0',
      identity: { certificate: '/c.pem', privateKey: '/k.pem', ca: '/ca.pem' },
      mqtt: { host: 'example-ats.iot.eu-west-1.amazonaws.com' },
      ...(telemetry !== undefined && { telemetry }),
    }),
    PATH,
  );
const refusal = (telemetry: unknown) => {
  try {
    parse(telemetry);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('accepted');
};
const asConfig = (file: ReturnType<typeof parse>): AgentConfig => ({
  ...file,
  path: PATH,
  certificatePem: 'CERT',
  privateKeyPem: 'KEY',
  caPem: 'CA',
  trustRootJson: undefined,
  warnings: [],
});

describe('agent config: telemetry', () => {
  it('is on with the defaults when the config has no telemetry section', () => {
    const options = agentOptions(asConfig(parse()), () => {});

    expect(options.telemetry).toMatchObject({
      stateDir: '/var/lib/edgeops',
      windowSeconds: 300,
      sampleEverySeconds: 5,
      sendEverySeconds: 300,
      maxBatchesPerSecond: 1,
      bufferBytes: 8 * 1024 * 1024,
      alertRules: [],
    });
    expect(options.telemetry?.sampler).toBeInstanceOf(SystemSampler);
  });

  it('is off with enabled: false', () => {
    expect(agentOptions(asConfig(parse({ enabled: false })), () => {}).telemetry).toBeUndefined();
  });

  it('takes alert rules with their defaults', () => {
    const file = parse({
      alertRules: [{ id: 'overheat', metric: 'temperature.celsius', op: '>', threshold: 80 }],
    });

    expect(file.telemetry.alertRules).toEqual([
      {
        id: 'overheat',
        metric: 'temperature.celsius',
        op: '>',
        threshold: 80,
        forSamples: 1,
        severity: 'critical',
      },
    ]);
  });

  it('refuses a bad rule, naming the field', () => {
    expect(
      refusal({ alertRules: [{ id: 'hot', metric: 'temperature.celsius', op: '=>', threshold: 80 }] }),
    ).toBe(`${PATH}: telemetry.alertRules[0].op: must be one of ">", ">=", "<", "<="`);
    expect(refusal({ alertRules: [{ id: 'hot', metric: 'Temp', op: '>', threshold: 80 }] })).toMatch(
      /telemetry\.alertRules\[0\]\.metric: lower case words joined by dots/,
    );
  });

  it('refuses sampling slower than the window, a check with two probes, and unknown fields', () => {
    expect(refusal({ windowSeconds: 30, sampleEverySeconds: 60 })).toBe(
      `${PATH}: telemetry.sampleEverySeconds: must be at most windowSeconds`,
    );
    expect(
      refusal({ healthCheck: { http: { url: 'http://127.0.0.1/h' }, command: { argv: ['/bin/true'] } } }),
    ).toBe(`${PATH}: telemetry.healthCheck: must have either http or command`);
    expect(refusal({ bufferSize: 1 })).toBe(`${PATH}: telemetry.bufferSize: unknown field`);
    expect(refusal({ bufferBytes: 1024 })).toBe(`${PATH}: telemetry.bufferBytes: must be at least 16384`);
  });

  describe('as a process', () => {
    let dir: string;
    let identity: IdentityFiles;
    const daemons: DaemonProcess[] = [];
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'telemetry-config-'));
      identity = await selfSignedIdentity(dir);
    });
    afterEach(async () => {
      for (const daemon of daemons.splice(0)) {
        daemon.child.kill('SIGKILL');
        await daemon.exited;
      }
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('exits 78 with one line naming the field for a bad telemetry section', async () => {
      const port = await closedPort();
      const path = await writeConfig(
        join(dir, 'agent.json'),
        daemonConfig(identity, join(dir, 'state'), {
          mqtt: { host: '127.0.0.1', port },
          telemetry: { alertRules: [{ id: 'x', metric: 'cpu.percent', op: '>', threshold: 'high' }] },
        }),
      );

      const daemon = startDaemon(['--check', '--config', path]);
      daemons.push(daemon);

      expect(await daemon.exited).toEqual({ code: 78, signal: null });
      expect(daemon.stderr).toEqual([
        `edgeops-agent: ${path}: telemetry.alertRules[0].threshold: must be a number`,
      ]);
    }, 60_000);
  });
});
