/**
 * The operators' side of the trust chain: root keys that never leave their machines (or HSMs:
 * any MetadataSigner works), and the root metadata they sign and upload.
 *
 * - `keygen`: makes root keys, one PKCS#8 PEM file each (mode 0600).
 * - `init`: root v1 with a threshold of those keys and the stack's online keys.
 * - `rotate-root`: root v+1 with new root keys, signed by a threshold of the old and of the new.
 * - `rotate-online`: root v+1 with the same root keys and the online keys the stack holds now
 *   (after deploying a new key generation, or to drop a retired one).
 */
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import {
  buildRoot,
  type MetadataSigner,
  ONLINE_ROLES,
  parseRoot,
  signMetadata,
  type TufPublicKey,
} from '../../functions/domain/tuf-metadata';
import { ApiError, type OperatorApiClient } from '../../operator-client/operator-api-client';

export interface OnlineKey {
  readonly keyId: string;
  readonly kmsKeyArn: string;
  readonly publicKey: TufPublicKey;
}

export async function generateRootKeys(dir: string, count: number): Promise<LocalKeySigner[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = Array.from({ length: count }, () => LocalKeySigner.generate('ed25519'));
  for (const key of keys) {
    const file = join(dir, `root-${key.keyId.slice(0, 16)}.pem`);
    await writeFile(file, key.toPem(), { mode: 0o600 });
    await chmod(file, 0o600);
  }
  return keys;
}

export async function loadRootKeys(dir: string): Promise<LocalKeySigner[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.pem')).sort();
  if (names.length === 0) throw new Error(`No root keys (*.pem) in ${dir}`);
  return Promise.all(
    names.map(async (name) => LocalKeySigner.fromPem(await readFile(join(dir, name), 'utf8'))),
  );
}

export async function onlineKeys(api: OperatorApiClient): Promise<OnlineKey[]> {
  const response = await api.request<{ keys: OnlineKey[] }>('GET', 'trust/online-keys');
  if (response.status !== 200) throw new ApiError(response.status, response.body);
  return response.body.keys;
}

export async function currentRoot(api: OperatorApiClient) {
  const response = await api.request('GET', 'trust/root');
  if (response.status === 404) return undefined;
  if (response.status !== 200) throw new ApiError(response.status, response.body);
  return parseRoot(response.body);
}

export async function uploadRoot(api: OperatorApiClient, root: unknown) {
  const response = await api.request('PUT', 'trust/root', root);
  if (response.status !== 200) throw new ApiError(response.status, response.body);
  return response.body;
}

const onlineFor = (keys: readonly OnlineKey[]) =>
  Object.fromEntries(ONLINE_ROLES.map((role) => [role, keys.map((k) => k.publicKey)])) as Record<
    (typeof ONLINE_ROLES)[number],
    TufPublicKey[]
  >;

/** Root v1: `threshold` of `rootKeys`, the stack's online keys; signed by every given root key. */
export async function initialRoot(input: {
  rootKeys: readonly LocalKeySigner[];
  threshold: number;
  online: readonly OnlineKey[];
  expires: Date;
}) {
  const root = buildRoot({
    version: 1,
    expires: input.expires,
    rootKeys: input.rootKeys.map((k) => k.publicKey),
    threshold: input.threshold,
    online: onlineFor(input.online),
  });
  return (await signMetadata(root, input.rootKeys)).toJSON();
}

/**
 * The next root. Signed by `signers`: TUF wants a threshold of the previous root's keys and of the
 * new root's keys among them (the same keys, when the root keys stay).
 */
export async function nextRoot(input: {
  previousVersion: number;
  rootKeys: readonly TufPublicKey[];
  threshold: number;
  online: readonly OnlineKey[];
  expires: Date;
  signers: readonly MetadataSigner[];
}) {
  const root = buildRoot({
    version: input.previousVersion + 1,
    expires: input.expires,
    rootKeys: input.rootKeys,
    threshold: input.threshold,
    online: onlineFor(input.online),
  });
  const unique = [...new Map(input.signers.map((s) => [s.keyId, s])).values()];
  return (await signMetadata(root, unique)).toJSON();
}
