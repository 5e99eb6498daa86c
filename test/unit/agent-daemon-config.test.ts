import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  loadAgentConfig,
  parseAgentConfig,
  StateDirError,
} from '../../device/daemon/agent-config';
import {
  daemonConfig,
  type IdentityFiles,
  REPO_ROOT,
  selfSignedIdentity,
  writeConfig,
} from '../support/agent-daemon';

const FILE = '/etc/edgeops/agent.json';
const IDENTITY: IdentityFiles = { certificate: '/c.pem', privateKey: '/k.pem', ca: '/ca.pem' };
const valid = () => daemonConfig(IDENTITY, '/var/lib/edgeops');

/** The one-line error `parseAgentConfig` gives for `config`. */
function refusal(config: unknown): string {
  try {
    parseAgentConfig(JSON.stringify(config), FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

const withField = (path: string, value: unknown) => {
  const config = valid() as Record<string, unknown>;
  const keys = path.split('.');
  let node = config;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys.at(-1) ?? '';
  if (value === undefined) delete node[last];
  else node[last] = value;
  return config;
};

describe('agent config: schema', () => {
  it('accepts a complete config and fills the defaults', () => {
    const config = parseAgentConfig(JSON.stringify(valid()), FILE);

    expect(config).toMatchObject({
      mqtt: { port: 8883 },
      healthChecks: { http: [], commands: [] },
      downloads: { allowPlainHttp: false },
      log: { level: 'info', priorityPrefix: 'auto' },
      rootfs: 'slots',
    });
  });

  it('accepts the example config shipped in device/packaging', async () => {
    const text = await readFile(join(REPO_ROOT, 'device/packaging/agent.example.json'), 'utf8');

    expect(() => parseAgentConfig(text, FILE)).not.toThrow();
  });

  it.each<[string, unknown, string]>([
    ['deviceId', undefined, 'deviceId: is required'],
    ['deviceId', 'dev 1', 'deviceId: must be 1-128 of letters, digits, _ and -'],
    ['deviceId', 42, 'deviceId: must be a string'],
    ['hardwareType', undefined, 'hardwareType: is required'],
    ['hardwareType', 'rpi 4', 'hardwareType: must be 1-64 of letters'],
    ['factoryVersion', '', 'factoryVersion: must be 1-64 of letters, digits and . + _ -'],
    ['identity', undefined, 'identity: is required'],
    ['identity', 'certs/', 'identity: must be an object'],
    ['identity.certificate', 'certs/device.pem', 'identity.certificate: must be an absolute path'],
    ['identity.privateKey', undefined, 'identity.privateKey: is required'],
    ['identity.privateKey', 7, 'identity.privateKey: must be a string'],
    ['identity.ca', '', 'identity.ca: must not be empty'],
    ['identity.trustRoot', 'root.json', 'identity.trustRoot: must be an absolute path'],
    ['identity.password', 'x', 'identity.password: unknown field'],
    ['mqtt', undefined, 'mqtt: is required'],
    ['mqtt.host', undefined, 'mqtt.host: is required'],
    ['mqtt.host', 'https://iot.example.com', 'mqtt.host: must be a host name or IPv4 address'],
    ['mqtt.port', '8883', 'mqtt.port: must be a number'],
    ['mqtt.port', 0, 'mqtt.port: must be at least 1'],
    ['mqtt.port', 65536, 'mqtt.port: must be at most 65535'],
    ['mqtt.port', 88.5, 'mqtt.port: must be an integer'],
    ['stateDir', 'state', 'stateDir: must be an absolute path'],
    ['updateModules', { dir: 'modules' }, 'updateModules.dir: must be an absolute path'],
    ['updateModules', {}, 'updateModules.dir: is required'],
    [
      'updateModules',
      { dir: '/m', timeouts: { HealthCheck: 0 } },
      'updateModules.timeouts.HealthCheck: must be more than 0',
    ],
    [
      'updateModules',
      { dir: '/m', timeouts: { Install: 60 } },
      'updateModules.timeouts.Install: unknown field',
    ],
    [
      'updateModules',
      { dir: '/m', env: { 'RESTART-COMMAND': 'x' } },
      'updateModules.env.RESTART-COMMAND: must be an environment variable name',
    ],
    [
      'updateModules',
      { dir: '/m', env: { EDGEOPS_CONFIG_UNIT: 'x' } },
      'updateModules.env.EDGEOPS_CONFIG_UNIT: is set from the release, not here',
    ],
    ['updateModules', { dir: '/m', env: { PORT: 8080 } }, 'updateModules.env.PORT: must be a string'],
    ['rootfs', 'rauc', 'rootfs: must be one of "slots", "update-module"'],
    [
      'healthChecks',
      { http: [{ url: 'ftp://app/health' }] },
      'healthChecks.http[0].url: must be an http(s) URL',
    ],
    ['healthChecks', { http: [{ url: 'not a url' }] }, 'healthChecks.http[0].url: must be an http(s) URL'],
    [
      'healthChecks',
      { http: [{ url: 'http://127.0.0.1/h', timeoutSeconds: 0 }] },
      'healthChecks.http[0].timeoutSeconds: must be more than 0',
    ],
    [
      'healthChecks',
      { http: [{ url: 'http://127.0.0.1/h', expectStatus: 42 }] },
      'healthChecks.http[0].expectStatus: must be at least 100',
    ],
    ['healthChecks', { commands: [{ argv: [] }] }, 'healthChecks.commands[0].argv: must name the command'],
    [
      'healthChecks',
      { commands: [{ argv: ['check-app'] }] },
      'healthChecks.commands[0].argv[0]: must start with an absolute path',
    ],
    [
      'healthChecks',
      { commands: [{ argv: ['/bin/true'], timeoutSeconds: 7200 }] },
      'healthChecks.commands[0].timeoutSeconds: must be at most 3600 seconds',
    ],
    ['healthChecks', { tcp: [] }, 'healthChecks.tcp: unknown field'],
    ['trialBoots', 0, 'trialBoots: must be at least 1'],
    ['trialBoots', 11, 'trialBoots: must be at most 10'],
    ['trialBoots', 1.5, 'trialBoots: must be an integer'],
    ['downloads', { minBytesPerSecond: 0 }, 'downloads.minBytesPerSecond: must be at least 1'],
    ['downloads', { maxSeconds: 1e12 }, 'downloads.maxSeconds: must be at most 2592000'],
    ['downloads', { allowanceSeconds: -1 }, 'downloads.allowanceSeconds: must be at least 0'],
    ['downloads', { allowPlainHttp: 'yes' }, 'downloads.allowPlainHttp: must be a boolean'],
    ['log', { level: 'verbose' }, 'log.level: must be one of "error", "warning", "info", "debug"'],
    ['log', { priorityPrefix: 'yes' }, 'log.priorityPrefix: must be "auto", true or false'],
    ['logLevel', 'debug', 'logLevel: unknown field'],
  ])('refuses %s = %j, naming the file and the field', (path, value, message) => {
    const line = refusal(withField(path, value));

    expect(line).toContain(`${FILE}: ${message}`);
    expect(line).not.toContain('\n');
  });

  it('refuses a file that is not JSON, or not an object', () => {
    expect(() => parseAgentConfig('{"deviceId": ', FILE)).toThrow(`${FILE}: not valid JSON: `);
    expect(refusal([])).toBe(`${FILE}: must be an object`);
  });
});

describe('agent config: the files it names', () => {
  let dir: string;
  let identity: IdentityFiles;
  let otherIdentity: IdentityFiles;
  const load = (config: Record<string, unknown>) =>
    writeConfig(join(dir, `agent-${Math.random().toString(36).slice(2)}.json`), config).then(loadAgentConfig);
  const refused = async (config: Record<string, unknown>) => {
    const error = await load(config).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).not.toContain('\n');
    return error?.message ?? '';
  };
  const withIdentity = (files: Partial<IdentityFiles> & { trustRoot?: string }) =>
    daemonConfig({ ...identity, ...files }, join(dir, 'state'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-config-'));
    identity = await selfSignedIdentity(dir, 'device');
    otherIdentity = await selfSignedIdentity(dir, 'other');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the identity and creates the state dir (0700)', async () => {
    const config = await load(daemonConfig(identity, join(dir, 'state-new')));

    expect(config.certificatePem).toContain('BEGIN CERTIFICATE');
    expect(config.privateKeyPem).toContain('PRIVATE KEY');
    expect(config.warnings).toEqual([]);
    expect((await stat(join(dir, 'state-new'))).mode & 0o777).toBe(0o700);
  });

  it('refuses a config file that is missing', async () => {
    await expect(loadAgentConfig(join(dir, 'nope.json'))).rejects.toThrow(
      `${join(dir, 'nope.json')}: cannot read the config: no such file or directory`,
    );
  });

  it('refuses a certificate that is missing, or not a certificate', async () => {
    const missing = join(dir, 'missing.pem');
    expect(await refused(withIdentity({ certificate: missing }))).toContain(
      `identity.certificate: ${missing}: no such file or directory`,
    );
    expect(await refused(withIdentity({ certificate: identity.privateKey }))).toContain(
      `identity.certificate: ${identity.privateKey}: does not hold a PEM certificate`,
    );
    expect(await refused(withIdentity({ certificate: dir }))).toContain(
      `identity.certificate: ${dir}: not a regular file`,
    );
  });

  it('refuses a private key that group or others may read, saying how to fix it', async () => {
    const loose = join(dir, 'loose.pem.key');
    await writeFile(loose, await readFile(identity.privateKey));
    await chmod(loose, 0o644);

    expect(await refused(withIdentity({ privateKey: loose }))).toContain(
      `identity.privateKey: ${loose}: group or others may access it (mode 0644); chmod 600 it`,
    );
  });

  it('refuses a private key that does not belong to the certificate', async () => {
    expect(await refused(withIdentity({ privateKey: otherIdentity.privateKey }))).toContain(
      `identity.privateKey: ${otherIdentity.privateKey}: does not belong to identity.certificate`,
    );
  });

  it('refuses a broken private key without echoing any of it', async () => {
    const broken = join(dir, 'broken.pem.key');
    await writeFile(
      broken,
      '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n',
      {
        mode: 0o600,
      },
    );

    const message = await refused(withIdentity({ privateKey: broken }));

    expect(message).toContain(`identity.privateKey: ${broken}: not a valid private key`);
    expect(message).not.toContain('c2VjcmV0');
  });

  it('refuses a CA that is missing, and a TUF root that is not JSON', async () => {
    const missing = join(dir, 'ca-missing.pem');
    expect(await refused(withIdentity({ ca: missing }))).toContain(
      `identity.ca: ${missing}: no such file or directory`,
    );
    const root = join(dir, 'root.json');
    await writeFile(root, '{"signed": ');
    expect(await refused(withIdentity({ trustRoot: root }))).toContain(
      `identity.trustRoot: ${root}: not valid JSON`,
    );
  });

  it('refuses an update-modules dir that is not a directory, and a health command that is missing', async () => {
    expect(await refused({ ...withIdentity({}), updateModules: { dir: identity.certificate } })).toContain(
      `updateModules.dir: ${identity.certificate}: not a directory`,
    );
    expect(
      await refused({
        ...withIdentity({}),
        healthChecks: { commands: [{ argv: [join(dir, 'no-such-check')] }] },
      }),
    ).toContain(`healthChecks.commands[0].argv[0]: ${join(dir, 'no-such-check')}: no such file or directory`);
  });

  it('takes an update-modules dir that exists, without a warning', async () => {
    const modules = join(dir, 'modules');
    await mkdir(modules, { recursive: true });

    const config = await load({ ...withIdentity({}), updateModules: { dir: modules } });

    expect(config.updateModules).toEqual({ dir: modules });
    expect(config.warnings).toEqual([]);
  });

  it('refuses a state dir it cannot create', async () => {
    const error = await load(daemonConfig(identity, join(identity.certificate, 'state'))).then(
      () => undefined,
      (e: Error) => e,
    );

    expect(error).toBeInstanceOf(StateDirError);
    expect(error?.message).toBe(
      `stateDir: ${join(identity.certificate, 'state')}: cannot create or write it: a path component is not a directory`,
    );
  });
});
