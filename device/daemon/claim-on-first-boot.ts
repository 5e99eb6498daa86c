/**
 * The agent's first-boot hook for provisioning by claim: before the config is loaded (which needs
 * the device's own certificate), a config with a `claim` section and no identity.certificate file
 * gets its identity from AWS IoT fleet provisioning (device/identity/claim-provisioning.ts),
 * retrying with backoff until it succeeds or the service is stopped; one whose identity exists but
 * whose first hello was never answered says it again (the hello writes its registry record).
 * Without `claim`, or once provisioned and welcomed, it does nothing.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MqttJsConnection } from '../cloud/mqtt-js-connection';
import { provisionByClaimWithRetry } from '../identity/claim-provisioning';
import { type AgentConfigFile, ConfigError, parseAgentConfig } from './agent-config';

export interface ClaimOnFirstBootOptions {
  readonly log: (message: string) => void;
  readonly stop?: AbortSignal;
}

/** Returns true when it provisioned the device now. Throws ConfigError for unreadable claim files. */
export async function claimIdentityOnFirstBoot(
  path: string,
  options: ClaimOnFirstBootOptions,
): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return false; // loadAgentConfig reports it, naming the file.
  }
  const config: AgentConfigFile = parseAgentConfig(text, path);
  const claim = config.claim;
  if (!claim) return false;
  const exists = (file: string) =>
    stat(file).then(
      () => true,
      () => false,
    );
  // Provisioned and welcomed already: nothing to do (provisionByClaim would find the same).
  const helloDone = await exists(join(config.stateDir, 'claim', 'hello.json'));
  if (helloDone && (await exists(config.identity.certificate))) return false;
  const read = (field: string, file: string) =>
    readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new ConfigError(`${path}: ${field}: ${file}: cannot read it (${error.code ?? 'error'})`);
    });
  const [certificatePem, privateKey, ca] = await Promise.all([
    read('claim.certificate', claim.certificate),
    read('claim.privateKey', claim.privateKey),
    read('identity.ca', config.identity.ca),
  ]);
  options.log(`claim: no identity yet; provisioning ${config.deviceId} with template ${claim.templateName}`);
  await provisionByClaimWithRetry(
    {
      serial: config.deviceId,
      templateName: claim.templateName,
      claim: { certificatePem, privateKey },
      certificatePath: config.identity.certificate,
      privateKeyPath: config.identity.privateKey,
      ...(config.identity.trustRoot ? { trustRootPath: config.identity.trustRoot } : {}),
      stateDir: config.stateDir,
      connect: (identity) =>
        new MqttJsConnection(
          {
            deviceId: identity.clientId,
            certificatePem: identity.certificatePem,
            privateKey: identity.privateKey,
          },
          { host: config.mqtt.host, port: config.mqtt.port, ca },
        ),
      log: options.log,
    },
    options.stop ? { stop: options.stop } : {},
  );
  return true;
}
