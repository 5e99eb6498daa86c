/**
 * Cognito's Secure Remote Password sign-in (USER_SRP_AUTH): the password never leaves this
 * machine; Cognito learns only that we know it. The group (RFC 5054's 3072-bit prime, generator
 * 2), the hashes and the HKDF info string are Cognito's, as its SDKs use them.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

const N = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
    '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
    '15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7' +
    'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C' +
    'BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF',
);
const g = 2n;

export const SRP_GROUP = { N, g } as const;

export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = ((base % modulus) + modulus) % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** Big-endian bytes with a leading zero byte when the high bit is set, as Cognito pads. */
export function pad(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  else if (/^[89a-f]/.test(hex)) hex = `00${hex}`;
  return Buffer.from(hex, 'hex');
}

const sha256 = (...parts: (Buffer | string)[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};
const toBigInt = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex') || '0'}`);
const hashInt = (...parts: Buffer[]) => toBigInt(sha256(...parts));

export const SRP_K = hashInt(pad(N), pad(g));

/** The client's ephemeral pair: `a` stays here, `A` (hex) goes out as SRP_A. */
export function srpEphemeral(random: (n: number) => Buffer = randomBytes): { a: bigint; A: string } {
  for (;;) {
    const a = toBigInt(random(128)) % N;
    const A = modPow(g, a, N);
    if (a !== 0n && A % N !== 0n) return { a, A: A.toString(16) };
  }
}

/** `Wed Nov 28 10:00:00 UTC 2026`: EEE MMM d HH:mm:ss z yyyy, in English, UTC, day unpadded. */
export function srpTimestamp(at: Date): string {
  const weekday = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][at.getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    at.getUTCMonth()
  ];
  const time = at.toISOString().slice(11, 19);
  return `${weekday} ${month} ${at.getUTCDate()} ${time} UTC ${at.getUTCFullYear()}`;
}

/**
 * The PASSWORD_VERIFIER answer: proof that we know the password for the SALT, SRP_B and
 * SECRET_BLOCK Cognito sent, signed over the pool name, user id, secret block and time.
 */
export function passwordClaim(input: {
  userPoolId: string;
  userId: string;
  password: string;
  a: bigint;
  A: string;
  salt: string;
  B: string;
  secretBlock: string;
  now: Date;
}): { PASSWORD_CLAIM_SECRET_BLOCK: string; PASSWORD_CLAIM_SIGNATURE: string; TIMESTAMP: string } {
  const poolName = input.userPoolId.split('_')[1] ?? input.userPoolId;
  const A = BigInt(`0x${input.A}`);
  const B = BigInt(`0x${input.B}`);
  if (B % N === 0n) throw new Error('Cognito sent an SRP_B that is 0 mod N');
  const u = hashInt(pad(A), pad(B));
  if (u === 0n) throw new Error('SRP: u is 0');
  const x = hashInt(pad(BigInt(`0x${input.salt}`)), sha256(`${poolName}${input.userId}:${input.password}`));
  const base = (((B - SRP_K * modPow(g, x, N)) % N) + N) % N;
  const S = modPow(base, input.a + u * x, N);
  const prk = createHmac('sha256', pad(u)).update(pad(S)).digest();
  const key = createHmac('sha256', prk).update('Caldera Derived Key\u0001').digest().subarray(0, 16);
  const timestamp = srpTimestamp(input.now);
  const signature = createHmac('sha256', key)
    .update(`${poolName}${input.userId}`)
    .update(Buffer.from(input.secretBlock, 'base64'))
    .update(timestamp)
    .digest('base64');
  return {
    PASSWORD_CLAIM_SECRET_BLOCK: input.secretBlock,
    PASSWORD_CLAIM_SIGNATURE: signature,
    TIMESTAMP: timestamp,
  };
}
