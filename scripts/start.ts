/**
 * `npm start`: local AWS up, the real stack deployed into it, an admin operator, and a small
 * simulated fleet that registers and reports. Ctrl-C stops everything it started.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { FleetSimulator } from '../agent/fleet-simulator';
import { OperatorApiClient } from '../agent/operator-api-client';
import { deployStack } from './local-aws/deploy';
import { freePort, localClientConfig, RUNTIME_DIR, startLocalAws } from './local-aws/ministack';
import { createOperator } from './local-aws/operators';

const log = (line: string) => console.log(line);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

async function portOrFree(preferred: number): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer()
      .once('error', () => resolve(freePort()))
      .listen(preferred, '127.0.0.1', () => server.close(() => resolve(preferred)));
  });
}

const port = Number(process.env.EDGEOPS_LOCAL_PORT ?? (await portOrFree(4566)));
const mqttPort = Number(process.env.EDGEOPS_MQTT_PORT ?? (await portOrFree(8883)));
const fleetSize = Number(process.env.EDGEOPS_FLEET_SIZE ?? 6);

log(`Starting local AWS (MiniStack) on ${port}, MQTT on ${mqttPort} ...`);
const aws = await startLocalAws({ port, mqttPort });
let fleet: FleetSimulator | undefined;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  log('\nStopping the fleet and local AWS ...');
  await fleet?.stop();
  await aws.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const stack = await deployStack(aws, { log });
  const admin = await createOperator(
    stack.outputs,
    'admin',
    'admin',
    new CognitoIdentityProviderClient(localClientConfig(aws)),
  );
  const tokenFile = join(RUNTIME_DIR, 'operator-token');
  writeFileSync(tokenFile, admin.idToken, { mode: 0o600 });
  writeFileSync(join(RUNTIME_DIR, 'operator.json'), JSON.stringify(admin, null, 2), { mode: 0o600 });

  const ca = await (await fetch(`${aws.endpoint}/_ministack/iot/ca.pem`)).text();
  log(`Starting a simulated fleet of ${fleetSize} devices ...`);
  fleet = new FleetSimulator({
    api: new OperatorApiClient(stack.apiUrl, admin.idToken),
    broker: { ...aws.mqtt, ca },
    size: fleetSize,
    credentialsDir: join(RUNTIME_DIR, 'fleet'),
    log,
  });
  await fleet.start();

  log(`
EdgeOps is running locally (ready in ${elapsed()}).

  Operator API   ${stack.apiUrl}
  AWS endpoint   ${aws.endpoint}   (MQTT with mutual TLS on ${aws.mqtt.host}:${aws.mqtt.port})
  Admin token    ${tokenFile}   (Cognito ID token, valid 1 h; user and password in .edgeops/operator.json)
  Device certs   ${join(RUNTIME_DIR, 'fleet')}/<device-id>/

Try:
  curl -s -H "Authorization: $(cat ${tokenFile})" "${stack.apiUrl}devices?site=plant-a"
  curl -s -H "Authorization: $(cat ${tokenFile})" "${stack.apiUrl}devices/sim-0001"

Press Ctrl-C to stop.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await stop(1);
}
