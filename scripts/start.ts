/**
 * `npm start`: local AWS up, the real stack deployed into it, an admin operator, releases 1.0.0
 * and 1.1.0, and a simulated fleet on 1.0.0 that registers, reports and takes OTA jobs.
 * Ctrl-C stops everything it started.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { bringUpLocalEdgeOps, type LocalEdgeOps } from './local-aws/environment';
import { freePort, RUNTIME_DIR } from './local-aws/ministack';

const log = (line: string) => console.log(line);
const started = Date.now();

function portOrFree(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
      .once('error', () => resolve(freePort()))
      .listen(preferred, '127.0.0.1', () => server.close(() => resolve(preferred)));
  });
}

const port = Number(process.env.EDGEOPS_LOCAL_PORT ?? (await portOrFree(4566)));
const mqttPort = Number(process.env.EDGEOPS_MQTT_PORT ?? (await portOrFree(8883)));
const fleetSize = Number(process.env.EDGEOPS_FLEET_SIZE ?? 12);

let local: LocalEdgeOps | undefined;
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  log('\nStopping the fleet and local AWS ...');
  await local?.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  local = await bringUpLocalEdgeOps({ aws: { port, mqttPort }, fleetSize, log });
  const { stack, tokenFile, aws } = local;
  const auth = `-H "Authorization: $(cat ${tokenFile})"`;
  const rollout = JSON.stringify({
    releaseId: 'rel-1.1.0',
    target: { filter: { region: 'eu-west' } },
    waves: [
      { count: 4, soakSeconds: 20 },
      { percent: 100, soakSeconds: 20 },
    ],
  });
  log(`
EdgeOps is running locally (ready in ${((Date.now() - started) / 1000).toFixed(1)} s).

  Operator API   ${stack.apiUrl}
  AWS endpoint   ${aws.endpoint}   (MQTT with mutual TLS on ${aws.mqtt.host}:${aws.mqtt.port})
  Admin token    ${tokenFile}   (Cognito ID token, valid 1 h; user and password in .edgeops/operator.json)
  Device certs   ${join(RUNTIME_DIR, 'fleet')}/<device-id>/

Try:
  curl -s ${auth} "${stack.apiUrl}devices?site=plant-a"
  curl -s ${auth} "${stack.apiUrl}releases"
  curl -s ${auth} -X POST "${stack.apiUrl}rollouts/preview" -d '${rollout}'
  curl -s ${auth} -X POST "${stack.apiUrl}rollouts" -d '${rollout}'
  curl -s ${auth} "${stack.apiUrl}rollouts/<rolloutId>"          # waves, funnels, bytes sent/saved, halt reason
  curl -s ${auth} "${stack.apiUrl}trust/root"                    # the TUF root devices verify releases with

Press Ctrl-C to stop.`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  await stop(1);
}
