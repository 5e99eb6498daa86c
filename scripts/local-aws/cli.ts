/**
 * `npm run local-aws -- install` installs the pinned MiniStack into .edgeops/venv;
 * `npm run local-aws -- up` runs it in the foreground (ports from EDGEOPS_LOCAL_PORT / EDGEOPS_MQTT_PORT,
 * 4566 / 8883 by default) until Ctrl-C.
 */
import { installMiniStack, startLocalAws } from './ministack';

const command = process.argv[2];
if (command === 'install') {
  installMiniStack();
} else if (command === 'up') {
  const aws = await startLocalAws({
    port: Number(process.env.EDGEOPS_LOCAL_PORT ?? 4566),
    mqttPort: Number(process.env.EDGEOPS_MQTT_PORT ?? 8883),
  });
  console.log(
    `Local AWS ready at ${aws.endpoint}, MQTT on ${aws.mqtt.host}:${aws.mqtt.port}. Ctrl-C stops it.`,
  );
  const stop = () => void aws.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} else {
  console.error('usage: npm run local-aws -- install | up');
  process.exit(2);
}
