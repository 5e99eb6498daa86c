/**
 * `npm start`: local AWS up, the real stack deployed into it, an admin operator, releases 1.0.0
 * and 1.1.0, and a simulated fleet on 1.0.0 that registers, reports, sends telemetry and takes
 * OTA jobs; the fleet analysis runs every minute.
 * Ctrl-C at any moment stops everything it started (see local-aws/shutdown.ts).
 */
import { join } from 'node:path';
import { bringUpLocalEdgeOps } from './local-aws/environment';
import { RUNTIME_DIR } from './local-aws/ministack';
import { shutdownOnSignals } from './local-aws/shutdown';

const log = (line: string) => console.log(line);
const started = Date.now();
const shutdown = shutdownOnSignals(log);
const fleetSize = Number(process.env.EDGEOPS_FLEET_SIZE ?? 12);

try {
  // EDGEOPS_LOCAL_PORT / EDGEOPS_MQTT_PORT, when set, are taken exactly (and refused when busy).
  const local = await bringUpLocalEdgeOps({
    aws: { preferredPort: 4566, preferredMqttPort: 8883 },
    fleetSize,
    log,
    signal: shutdown.signal,
  });
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

Fleet health (telemetry arrives every minute; the analysis behind the summary runs every minute):
  curl -s ${auth} "${stack.apiUrl}fleet/summary?groupBy=site,health"
  curl -s ${auth} "${stack.apiUrl}devices?health=healthy&connectionState=connected"
  curl -s ${auth} "${stack.apiUrl}devices/<deviceId>/telemetry"   # its latest windows and alerts
  curl -s ${auth} "${stack.apiUrl}fleet/anomalies"
  curl -s ${auth} "${stack.apiUrl}fleet/metrics"                  # Prometheus text format

Try:
  curl -s ${auth} "${stack.apiUrl}devices?site=plant-a"
  curl -s ${auth} "${stack.apiUrl}releases"
  curl -s ${auth} -X POST "${stack.apiUrl}rollouts/preview" -d '${rollout}'
  curl -s ${auth} -X POST "${stack.apiUrl}rollouts" -d '${rollout}'
  curl -s ${auth} "${stack.apiUrl}rollouts/<rolloutId>"          # waves, funnels, bytes sent/saved, halt reason
  curl -s ${auth} "${stack.apiUrl}trust/root"                    # the TUF root devices verify releases with

Press Ctrl-C to stop.`);
  await shutdown.requested;
  await local.stop();
  process.exit(0);
} catch (error) {
  // Aborted: bringUpLocalEdgeOps stopped what it had started before rejecting.
  if (shutdown.signal.aborted) process.exit(130);
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
