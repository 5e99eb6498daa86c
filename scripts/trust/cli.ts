/**
 * `npm run trust -- <command>`: the root ceremony against a deployed stack.
 *
 *   keygen        --dir DIR [--count 3]
 *   init          --dir DIR --threshold N [--expires-days 365]
 *   rotate-root   --dir OLD_DIR --new-dir NEW_DIR --threshold N [--expires-days 365]
 *   rotate-online --dir DIR [--expires-days 365] [--online KEYID,...]
 *
 * The API comes from EDGEOPS_API_URL and an admin's Cognito ID token from EDGEOPS_TOKEN. Keep the
 * key directories offline (a removable disk, an air-gapped laptop); only signed roots leave them.
 */
import { parseArgs } from 'node:util';
import { OperatorApiClient } from '../../operator-client/operator-api-client';
import {
  currentRoot,
  generateRootKeys,
  initialRoot,
  loadRootKeys,
  nextRoot,
  onlineKeys,
  uploadRoot,
} from './root-ceremony';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    'new-dir': { type: 'string' },
    count: { type: 'string', default: '3' },
    threshold: { type: 'string' },
    'expires-days': { type: 'string', default: '365' },
    online: { type: 'string' },
  },
});
const command = positionals[0];
const need = (name: string, value: string | undefined) => {
  if (!value) throw new Error(`--${name} is required for ${command}`);
  return value;
};
const expires = new Date(Date.now() + Number(values['expires-days']) * 86_400_000);
const api = () =>
  new OperatorApiClient(
    need('EDGEOPS_API_URL (env)', process.env.EDGEOPS_API_URL),
    process.env.EDGEOPS_TOKEN,
  );

switch (command) {
  case 'keygen': {
    const keys = await generateRootKeys(need('dir', values.dir), Number(values.count));
    console.log(
      `Wrote ${keys.length} root keys to ${values.dir}:\n${keys.map((k) => `  ${k.keyId}`).join('\n')}`,
    );
    break;
  }
  case 'init': {
    const rootKeys = await loadRootKeys(need('dir', values.dir));
    const root = await initialRoot({
      rootKeys,
      threshold: Number(need('threshold', values.threshold)),
      online: await onlineKeys(api()),
      expires,
    });
    console.log(JSON.stringify(await uploadRoot(api(), root), null, 2));
    break;
  }
  case 'rotate-root':
  case 'rotate-online': {
    const previous = await currentRoot(api());
    if (!previous) throw new Error('No root yet: run init first');
    const oldKeys = await loadRootKeys(need('dir', values.dir));
    const newKeys =
      command === 'rotate-root' ? await loadRootKeys(need('new-dir', values['new-dir'])) : oldKeys;
    const threshold =
      command === 'rotate-root'
        ? Number(need('threshold', values.threshold))
        : (previous.signed.roles.root?.threshold ?? 1);
    const wanted = values.online?.split(',');
    const online = (await onlineKeys(api())).filter((k) => !wanted || wanted.includes(k.keyId));
    const root = await nextRoot({
      previousVersion: previous.signed.version,
      rootKeys: newKeys.map((k) => k.publicKey),
      threshold,
      online,
      expires,
      signers: [...oldKeys, ...newKeys],
    });
    console.log(JSON.stringify(await uploadRoot(api(), root), null, 2));
    break;
  }
  default:
    console.error(
      'usage: npm run trust -- keygen | init | rotate-root | rotate-online (see scripts/trust/cli.ts)',
    );
    process.exit(2);
}
