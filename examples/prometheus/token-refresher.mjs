#!/usr/bin/env node
/**
 * Keeps a Cognito ID token for a Prometheus scrape job in a file, fresh: a sidecar next to
 * Prometheus (docs/prometheus-grafana.md). No dependencies; Node 18 or later.
 *
 * - Signs in as a machine user of the `viewer` group (USER_PASSWORD_AUTH), answering the TOTP
 *   challenge when the user pool requires MFA (the aws stage does), from the user's TOTP secret.
 * - Then refreshes with the refresh token (REFRESH_TOKEN_AUTH, no MFA) every REFRESH_SECONDS
 *   (ID tokens live 1 hour); signs in again when the refresh token has expired (7 days).
 * - Writes the token atomically (temp file + rename), mode 0600, so Prometheus never reads half.
 *
 * Environment: COGNITO_REGION, COGNITO_CLIENT_ID, SCRAPER_USERNAME, SCRAPER_PASSWORD,
 * SCRAPER_TOTP_SECRET (base32; only with MFA), TOKEN_FILE (default /tokens/id-token),
 * REFRESH_SECONDS (default 2700), COGNITO_ENDPOINT (default the region's; local AWS for tests).
 * `--once` writes one token and exits.
 */
import { createHmac } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** RFC 4648 base32 (the form authenticator apps take a TOTP secret in) to bytes. */
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = text.toUpperCase().replace(/[\s=]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of clean) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`Not base32: '${char}'`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits), as Cognito's software token MFA checks it. */
export function totp(secret, atMs = Date.now(), digits = 6) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 1000 / 30)));
  const hmac = createHmac('sha1', secret).update(counter).digest();
  const offset = hmac[hmac.length - 1] & 0x0f;
  const code = (hmac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(code).padStart(digits, '0');
}

/** One Cognito user pool API call; InitiateAuth and RespondToAuthChallenge need no AWS signature. */
async function cognito(env, operation, input) {
  const endpoint = env.COGNITO_ENDPOINT ?? `https://cognito-idp.${env.COGNITO_REGION}.amazonaws.com/`;
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
    },
    body: JSON.stringify(input),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`${operation}: ${body.__type ?? response.status}: ${body.message ?? ''}`);
  return body;
}

/** A full sign-in: password, then the TOTP challenge if the pool asks for it. */
export async function signIn(env) {
  let answer = await cognito(env, 'InitiateAuth', {
    AuthFlow: 'USER_PASSWORD_AUTH',
    ClientId: env.COGNITO_CLIENT_ID,
    AuthParameters: { USERNAME: env.SCRAPER_USERNAME, PASSWORD: env.SCRAPER_PASSWORD },
  });
  if (answer.ChallengeName === 'SOFTWARE_TOKEN_MFA') {
    if (!env.SCRAPER_TOTP_SECRET) throw new Error('The user pool asks for TOTP: set SCRAPER_TOTP_SECRET');
    answer = await cognito(env, 'RespondToAuthChallenge', {
      ChallengeName: 'SOFTWARE_TOKEN_MFA',
      ClientId: env.COGNITO_CLIENT_ID,
      Session: answer.Session,
      ChallengeResponses: {
        USERNAME: env.SCRAPER_USERNAME,
        SOFTWARE_TOKEN_MFA_CODE: totp(base32Decode(env.SCRAPER_TOTP_SECRET)),
      },
    });
  }
  if (!answer.AuthenticationResult) throw new Error(`Unexpected challenge ${answer.ChallengeName}`);
  return answer.AuthenticationResult;
}

async function refresh(env, refreshToken) {
  const answer = await cognito(env, 'InitiateAuth', {
    AuthFlow: 'REFRESH_TOKEN_AUTH',
    ClientId: env.COGNITO_CLIENT_ID,
    AuthParameters: { REFRESH_TOKEN: refreshToken },
  });
  return answer.AuthenticationResult;
}

function writeToken(file, token) {
  const temp = `${file}.tmp`;
  writeFileSync(temp, token, { mode: 0o600 });
  renameSync(temp, file);
}

async function main(env, once) {
  const file = env.TOKEN_FILE ?? '/tokens/id-token';
  const every = Number(env.REFRESH_SECONDS ?? 2700) * 1000;
  let refreshToken;
  for (;;) {
    try {
      const result = refreshToken ? await refresh(env, refreshToken).catch(() => undefined) : undefined;
      const fresh = result ?? (await signIn(env));
      refreshToken = fresh.RefreshToken ?? refreshToken;
      writeToken(file, fresh.IdToken);
      console.log(`${new Date().toISOString()} wrote a token valid ${fresh.ExpiresIn} s to ${file}`);
      if (once) return;
      await new Promise((r) => setTimeout(r, every));
    } catch (error) {
      console.error(`${new Date().toISOString()} ${error.message}; retrying in 30 s`);
      if (once) process.exit(1);
      refreshToken = undefined;
      await new Promise((r) => setTimeout(r, 30_000));
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main(process.env, process.argv.includes('--once'));
}
