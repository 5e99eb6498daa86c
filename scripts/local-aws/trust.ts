/**
 * The root ceremony, done for a local stack: three fresh root keys with a threshold of two, kept
 * under .edgeops (local AWS forgets everything when it stops, and so may these keys). On AWS the
 * operators run `npm run trust -- keygen / init` on an offline machine instead.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import type { OperatorApiClient } from '../../operator-client/operator-api-client';
import { generateRootKeys, initialRoot, onlineKeys, uploadRoot } from '../trust/root-ceremony';
import { RUNTIME_DIR } from './ministack';

export interface LocalTrust {
  /** Where the root keys are (PEM files, mode 0600). */
  readonly keysDir: string;
  readonly rootKeys: readonly LocalKeySigner[];
  /** Root v1 as devices get it at registration. */
  readonly root: unknown;
}

export async function setUpReleaseTrust(
  api: OperatorApiClient,
  name = 'local',
  options: { onlineKeyGenerations?: number } = {},
): Promise<LocalTrust> {
  const keysDir = join(RUNTIME_DIR, 'trust', name, 'root-keys');
  rmSync(keysDir, { recursive: true, force: true });
  const rootKeys = await generateRootKeys(keysDir, 3);
  const root = await initialRoot({
    rootKeys,
    threshold: 2,
    // The stack lists its online keys by generation; a root may name only the first few.
    online: (await onlineKeys(api)).slice(0, options.onlineKeyGenerations),
    expires: new Date(Date.now() + 365 * 86_400_000),
  });
  await uploadRoot(api, root);
  return { keysDir, rootKeys, root };
}
