/**
 * `npm run local-aws -- install` installs the pinned MiniStack into .edgeops/venv;
 * `npm run local-aws -- up` runs it in the foreground (ports from EDGEOPS_LOCAL_PORT / EDGEOPS_MQTT_PORT,
 * 4566 / 8883 by default) until Ctrl-C;
 * `npm run local-aws -- clean` stops local AWS left behind by runs that are gone.
 */
import { installMiniStack, type LocalAws, startLocalAws, stopLeftoverEmulators } from './ministack';

const command = process.argv[2];
if (command === 'install') {
  await installMiniStack();
} else if (command === 'clean') {
  const stopped = await stopLeftoverEmulators();
  console.log(stopped > 0 ? `Stopped ${stopped} local AWS left behind.` : 'No local AWS left behind.');
} else if (command === 'up') {
  const stopping = new AbortController();
  let aws: LocalAws | undefined;
  const stop = () => {
    stopping.abort(); // while starting, startLocalAws stops what it started and throws
    if (aws) void aws.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    aws = await startLocalAws({
      port: Number(process.env.EDGEOPS_LOCAL_PORT ?? 4566),
      mqttPort: Number(process.env.EDGEOPS_MQTT_PORT ?? 8883),
      signal: stopping.signal,
    });
    console.log(
      `Local AWS ready at ${aws.endpoint}, MQTT on ${aws.mqtt.host}:${aws.mqtt.port}. Ctrl-C stops it.`,
    );
  } catch (error) {
    if (!stopping.signal.aborted) console.error((error as Error).message);
    process.exit(stopping.signal.aborted ? 130 : 1);
  }
} else {
  console.error('usage: npm run local-aws -- install | up | clean');
  process.exit(2);
}
