import { createHash, createHmac, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CognitoError } from '../../cli/cognito';
import { ConfigStore, configDir } from '../../cli/config';
import { CliError, ExitCode } from '../../cli/errors';
import { Session, signIn, tokenExpiry } from '../../cli/session';
import { modPow, pad, SRP_GROUP, SRP_K, srpTimestamp } from '../../cli/srp';
import {
  fakeCli,
  fakeJwt,
  ScriptedCognito,
  ScriptedPrompter,
  temporaryDir,
  tokensAnswer,
} from './cli-fixtures';

afterEach(() => {
  vi.unstubAllGlobals();
});

const NOW = new Date('2026-11-28T10:00:00Z');
const store = () => new ConfigStore(join(temporaryDir('edgeops-session-'), 'edgeops'));
const PROFILE = { apiUrl: 'https://api.example.test/v1/', clientId: 'client-1', region: 'eu-west-1' };

async function signedIn(expiresInMs: number) {
  const s = store();
  await s.saveProfile('default', PROFILE);
  await s.saveTokens('default', {
    username: 'alice',
    idToken: fakeJwt({ exp: (NOW.getTime() + expiresInMs) / 1000 }),
    accessToken: 'a',
    refreshToken: 'refresh-alice',
    idTokenExpiresAt: new Date(NOW.getTime() + expiresInMs).toISOString(),
  });
  return s;
}

describe('Session: the ID token a command gets', () => {
  it('uses the cached token while it has more than the margin left', async () => {
    const cognito = new ScriptedCognito({});
    const session = new Session({
      store: await signedIn(30 * 60_000),
      profileName: 'default',
      env: {},
      cognitoFor: () => cognito,
      now: () => NOW,
    });
    const { token, apiUrl } = await session.credentials();
    expect(tokenExpiry(token).getTime()).toBe(NOW.getTime() + 30 * 60_000);
    expect(apiUrl).toBe(PROFILE.apiUrl);
    expect(cognito.calls).toEqual([]);
  });

  it('refreshes with the refresh token when the ID token is near expiry, and caches the new one', async () => {
    const s = await signedIn(2 * 60_000);
    const renewed = new Date(NOW.getTime() + 3600_000);
    const cognito = new ScriptedCognito({ initiateAuth: [tokensAnswer(renewed, 'alice', false)] });
    const session = new Session({
      store: s,
      profileName: 'default',
      env: {},
      cognitoFor: () => cognito,
      now: () => NOW,
    });

    const { token } = await session.credentials();

    expect(cognito.calls).toEqual([
      {
        op: 'initiateAuth',
        input: {
          ClientId: 'client-1',
          AuthFlow: 'REFRESH_TOKEN_AUTH',
          AuthParameters: { REFRESH_TOKEN: 'refresh-alice' },
        },
      },
    ]);
    expect(tokenExpiry(token)).toEqual(renewed);
    const cached = await s.tokens('default');
    expect(cached?.idToken).toBe(token);
    expect(cached?.idTokenExpiresAt).toBe(renewed.toISOString());
    // Cognito keeps the refresh token unless the client rotates them.
    expect(cached?.refreshToken).toBe('refresh-alice');
  });

  it('refreshes an already expired token, and keeps a rotated refresh token', async () => {
    const s = await signedIn(-60_000);
    const cognito = new ScriptedCognito({
      initiateAuth: [tokensAnswer(new Date(NOW.getTime() + 3600_000), 'alice', true)],
    });
    await new Session({
      store: s,
      profileName: 'default',
      env: {},
      cognitoFor: () => cognito,
      now: () => NOW,
    }).credentials();
    expect((await s.tokens('default'))?.refreshToken).toBe('refresh-alice');
    expect(cognito.calls).toHaveLength(1);
  });

  it('says to log in again (exit 3) when Cognito refuses the refresh token', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [new CognitoError('NotAuthorizedException', 'Refresh Token has expired')],
    });
    const session = new Session({
      store: await signedIn(60_000),
      profileName: 'default',
      env: {},
      cognitoFor: () => cognito,
      now: () => NOW,
    });
    const error = await session.credentials().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(ExitCode.auth);
    expect((error as CliError).message).toBe(
      'session expired (Refresh Token has expired): run edgeops login',
    );
  });

  it('keeps profiles apart', async () => {
    const s = await signedIn(30 * 60_000);
    const other = new Session({
      store: s,
      profileName: 'prod',
      env: {},
      cognitoFor: () => new ScriptedCognito({}),
      now: () => NOW,
    });
    await expect(other.credentials()).rejects.toThrow(/not signed in \(profile 'prod'\)/);
  });
});

describe('signIn: Cognito challenges answered at the prompt', () => {
  const later = new Date(NOW.getTime() + 3600_000);

  it('signs in with a password alone when the pool asks nothing more', async () => {
    const cognito = new ScriptedCognito({ initiateAuth: [tokensAnswer(later)] });
    const tokens = await signIn({
      cognito,
      clientId: 'client-1',
      username: 'alice',
      password: 'pw',
      prompter: new ScriptedPrompter(),
    });
    expect(cognito.calls[0]).toEqual({
      op: 'initiateAuth',
      input: {
        ClientId: 'client-1',
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: 'alice', PASSWORD: 'pw' },
      },
    });
    expect(tokens.idTokenExpiresAt).toBe(later.toISOString());
    expect(tokens.refreshToken).toBe('refresh-alice');
  });

  it('answers SOFTWARE_TOKEN_MFA with the code typed', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [
        {
          ChallengeName: 'SOFTWARE_TOKEN_MFA',
          Session: 's1',
          ChallengeParameters: { USER_ID_FOR_SRP: 'alice-id' },
        },
      ],
      respondToAuthChallenge: [tokensAnswer(later)],
    });
    const prompter = new ScriptedPrompter([' 123456 ']);
    await signIn({ cognito, clientId: 'client-1', username: 'alice@example.com', password: 'pw', prompter });
    expect(prompter.asked).toEqual(['Code from your authenticator app: ']);
    expect(cognito.calls[1]?.input).toEqual({
      ClientId: 'client-1',
      ChallengeName: 'SOFTWARE_TOKEN_MFA',
      Session: 's1',
      ChallengeResponses: { USERNAME: 'alice-id', SOFTWARE_TOKEN_MFA_CODE: '123456' },
    });
  });

  it('answers SMS_MFA naming where the code went', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [
        {
          ChallengeName: 'SMS_MFA',
          Session: 's1',
          ChallengeParameters: { CODE_DELIVERY_DESTINATION: '+*******1234' },
        },
      ],
      respondToAuthChallenge: [tokensAnswer(later)],
    });
    const prompter = new ScriptedPrompter(['654321']);
    await signIn({ cognito, clientId: 'c', username: 'alice', password: 'pw', prompter });
    expect(prompter.asked).toEqual(['Code sent by SMS to +*******1234: ']);
    expect(
      (cognito.calls[1]?.input as { ChallengeResponses: unknown } | undefined)?.ChallengeResponses,
    ).toEqual({
      USERNAME: 'alice',
      SMS_MFA_CODE: '654321',
    });
  });

  it('sets a new password, then answers MFA_SETUP by enrolling a TOTP key', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [{ ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: 's1', ChallengeParameters: {} }],
      respondToAuthChallenge: [
        { ChallengeName: 'MFA_SETUP', Session: 's2', ChallengeParameters: {} },
        tokensAnswer(later),
      ],
      associateSoftwareToken: [{ SecretCode: 'JBSWY3DPEHPK3PXP', Session: 's3' }],
      verifySoftwareToken: [{ Status: 'SUCCESS', Session: 's4' }],
    });
    const prompter = new ScriptedPrompter(['N3w!password-1', 'N3w!password-1', '000111']);
    await signIn({ cognito, clientId: 'c', username: 'alice', password: 'temporary', prompter });
    expect(cognito.calls.map((c) => c.op)).toEqual([
      'initiateAuth',
      'respondToAuthChallenge',
      'associateSoftwareToken',
      'verifySoftwareToken',
      'respondToAuthChallenge',
    ]);
    expect(
      (cognito.calls[1]?.input as { ChallengeResponses: unknown } | undefined)?.ChallengeResponses,
    ).toEqual({
      USERNAME: 'alice',
      NEW_PASSWORD: 'N3w!password-1',
    });
    expect(cognito.calls[3]?.input).toMatchObject({ Session: 's3', UserCode: '000111' });
    expect(cognito.calls[4]?.input).toMatchObject({ ChallengeName: 'MFA_SETUP', Session: 's4' });
    expect(prompter.told.join('\n')).toContain('otpauth://totp/EdgeOps:alice?secret=JBSWY3DPEHPK3PXP');
  });

  it('refuses two different new passwords without sending either', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [{ ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: 's1' }],
    });
    await expect(
      signIn({
        cognito,
        clientId: 'c',
        username: 'alice',
        password: 'pw',
        prompter: new ScriptedPrompter(['a', 'b']),
      }),
    ).rejects.toThrow('the two passwords differ');
    expect(cognito.calls).toHaveLength(1);
  });

  it('turns a wrong password into exit 3 with the reason', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [new CognitoError('NotAuthorizedException', 'Incorrect username or password.')],
    });
    const error = (await signIn({
      cognito,
      clientId: 'c',
      username: 'alice',
      password: 'x',
      prompter: new ScriptedPrompter(),
    }).catch((e: unknown) => e)) as CliError;
    expect(error.exitCode).toBe(ExitCode.auth);
    expect(error.message).toBe('sign-in refused: Incorrect username or password. (NotAuthorizedException)');
  });

  it('names a challenge it cannot answer', async () => {
    const cognito = new ScriptedCognito({
      initiateAuth: [{ ChallengeName: 'DEVICE_SRP_AUTH', Session: 's' }],
    });
    await expect(
      signIn({ cognito, clientId: 'c', username: 'alice', password: 'pw', prompter: new ScriptedPrompter() }),
    ).rejects.toThrow('Cognito asks for DEVICE_SRP_AUTH, which edgeops login cannot answer');
  });
});

describe('edgeops login and logout', () => {
  it('signs in with --password-stdin and keeps profile and tokens in 0600 files', async () => {
    const later = new Date(NOW.getTime() + 3600_000);
    const cognito = new ScriptedCognito({
      initiateAuth: [{ ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 's1' }],
      respondToAuthChallenge: [tokensAnswer(later)],
    });
    const cli = await fakeCli({
      signedIn: false,
      cognito,
      prompter: new ScriptedPrompter(['123456']),
      stdin: 'secret-pw\n',
      now: () => NOW,
    });
    const code = await cli.run(
      'login',
      '--api-url',
      'https://abc123.execute-api.eu-central-1.amazonaws.com/v1',
      '--client-id',
      'client-9',
      '--username',
      'alice',
      '--password-stdin',
    );
    expect(code).toBe(ExitCode.ok);
    expect((cognito.calls[0]?.input as { AuthParameters: unknown } | undefined)?.AuthParameters).toEqual({
      USERNAME: 'alice',
      PASSWORD: 'secret-pw',
    });
    const profile = await cli.ctx.store.profile('default');
    expect(profile).toEqual({
      apiUrl: 'https://abc123.execute-api.eu-central-1.amazonaws.com/v1/',
      clientId: 'client-9',
      region: 'eu-central-1',
      username: 'alice',
    });
    for (const file of ['profiles.json', 'tokens/default.json'])
      expect(statSync(join(cli.ctx.store.dir, file)).mode & 0o777, file).toBe(0o600);
    expect(statSync(cli.ctx.store.dir).mode & 0o777).toBe(0o700);
    expect(cli.stdout()).toContain('Signed in as alice (operator)');
  });

  it('refuses to read a password from a prompt when not at a terminal', async () => {
    const cli = await fakeCli({ signedIn: false });
    expect(
      await cli.run(
        'login',
        '--api-url',
        'http://localhost:4566/x/',
        '--client-id',
        'c',
        '--region',
        'us-east-1',
        '--username',
        'a',
      ),
    ).toBe(ExitCode.usage);
    expect(cli.stderr()).toContain('no password: use --password-stdin or EDGEOPS_PASSWORD');
  });

  it('logout revokes the refresh token and forgets the tokens', async () => {
    const cognito = new ScriptedCognito({ revokeToken: [{}] });
    const cli = await fakeCli({ cognito });
    expect(await cli.run('logout')).toBe(ExitCode.ok);
    expect(cognito.calls).toEqual([
      { op: 'revokeToken', input: { ClientId: 'client-1', Token: 'refresh-alice' } },
    ]);
    expect(await cli.ctx.store.tokens('default')).toBeUndefined();
    expect(await cli.run('devices', 'list')).toBe(ExitCode.auth);
  });

  it('keeps its files under EDGEOPS_CONFIG_DIR, else XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configDir({ EDGEOPS_CONFIG_DIR: '/tmp/x' })).toBe('/tmp/x');
    expect(configDir({ XDG_CONFIG_HOME: '/home/a/.cfg' })).toBe('/home/a/.cfg/edgeops');
    expect(configDir({})).toMatch(/\/\.config\/edgeops$/);
  });
});

describe('signIn with SRP', () => {
  const { N, g } = SRP_GROUP;
  const hashInt = (...parts: Buffer[]) => {
    const hash = createHash('sha256');
    for (const p of parts) hash.update(p);
    return BigInt(`0x${hash.digest('hex')}`);
  };

  /**
   * Cognito's side of USER_SRP_AUTH for one user, written from the server's equations
   * (S = (A·v^u)^b), so the client's proof is checked by the other half of the protocol.
   */
  function srpServer(poolId: string, userId: string, password: string) {
    const poolName = poolId.split('_')[1] as string;
    const salt = randomBytes(16).toString('hex').replace(/^0/, '1');
    const x = hashInt(
      pad(BigInt(`0x${salt}`)),
      createHash('sha256').update(`${poolName}${userId}:${password}`).digest(),
    );
    const v = modPow(g, x, N);
    const b = BigInt(`0x${randomBytes(64).toString('hex')}`);
    const B = (SRP_K * v + modPow(g, b, N)) % N;
    const secretBlock = randomBytes(32).toString('base64');
    let A = 0n;
    return {
      challenge(srpA: string) {
        A = BigInt(`0x${srpA}`);
        return {
          ChallengeName: 'PASSWORD_VERIFIER',
          ChallengeParameters: {
            SALT: salt,
            SRP_B: B.toString(16),
            SECRET_BLOCK: secretBlock,
            USER_ID_FOR_SRP: userId,
          },
        };
      },
      proofValid(responses: Record<string, string>) {
        const u = hashInt(pad(A), pad(B));
        const S = modPow(A * modPow(v, u, N), b, N);
        const prk = createHmac('sha256', pad(u)).update(pad(S)).digest();
        const key = createHmac('sha256', prk).update('Caldera Derived Key\u0001').digest().subarray(0, 16);
        const expected = createHmac('sha256', key)
          .update(`${poolName}${userId}`)
          .update(Buffer.from(secretBlock, 'base64'))
          .update(responses.TIMESTAMP ?? '')
          .digest('base64');
        return (
          responses.PASSWORD_CLAIM_SIGNATURE === expected &&
          responses.PASSWORD_CLAIM_SECRET_BLOCK === secretBlock
        );
      },
    };
  }

  function srpCognito(server: ReturnType<typeof srpServer>) {
    const cognito = new ScriptedCognito({});
    cognito.initiateAuth = async (input) => {
      cognito.calls.push({ op: 'initiateAuth', input });
      return server.challenge(input.AuthParameters.SRP_A as string);
    };
    cognito.respondToAuthChallenge = async (input) => {
      cognito.calls.push({ op: 'respondToAuthChallenge', input });
      if (!server.proofValid(input.ChallengeResponses))
        throw new CognitoError('NotAuthorizedException', 'Incorrect username or password.');
      return tokensAnswer(new Date(NOW.getTime() + 3600_000));
    };
    return cognito;
  }

  it('proves the password without sending it', async () => {
    const cognito = srpCognito(srpServer('eu-west-1_AbC123', 'alice', 'correct horse'));
    const tokens = await signIn({
      cognito,
      clientId: 'c',
      username: 'alice',
      password: 'correct horse',
      prompter: new ScriptedPrompter(),
      srp: { userPoolId: 'eu-west-1_AbC123', now: () => new Date('2026-11-03T04:05:06Z') },
    });
    expect(tokens.refreshToken).toBe('refresh-alice');
    expect(cognito.calls[0]?.input).toMatchObject({ AuthFlow: 'USER_SRP_AUTH' });
    expect(JSON.stringify(cognito.calls)).not.toContain('correct horse');
    expect(cognito.calls[1]?.input).toMatchObject({
      ChallengeName: 'PASSWORD_VERIFIER',
      ChallengeResponses: { USERNAME: 'alice', TIMESTAMP: 'Tue Nov 3 04:05:06 UTC 2026' },
    });
  });

  it('fails the proof with a wrong password', async () => {
    const cognito = srpCognito(srpServer('eu-west-1_AbC123', 'alice', 'correct horse'));
    await expect(
      signIn({
        cognito,
        clientId: 'c',
        username: 'alice',
        password: 'wrong',
        prompter: new ScriptedPrompter(),
        srp: { userPoolId: 'eu-west-1_AbC123' },
      }),
    ).rejects.toThrow('sign-in refused: Incorrect username or password.');
  });

  it('writes the timestamp as Cognito reads it', () => {
    expect(srpTimestamp(new Date('2026-01-09T23:59:01Z'))).toBe('Fri Jan 9 23:59:01 UTC 2026');
  });
});
