import { describe, expect, it } from 'vitest';
import { CognitoClient, CognitoError, type Fetch, type Tokens } from '../../console/src/cognito';
import { parseConsoleConfig } from '../../console/src/config';
import { rolloutActions } from '../../console/src/rollout-actions';
import { Session, SignedOutError, type TokenStorage } from '../../console/src/session';
import { parseWaves } from '../../console/src/waves';

const jwt = (claims: Record<string, unknown>) =>
  `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;

const result = (claims: Record<string, unknown> = {}, refresh = 'refresh-1') => ({
  AuthenticationResult: {
    IdToken: jwt({ exp: 2_000_000_000, 'cognito:username': 'alice', ...claims }),
    AccessToken: 'access',
    ...(refresh ? { RefreshToken: refresh } : {}),
  },
});

/** A scripted Cognito: answers each call in turn and records what was asked. */
function fakeCognito(answers: { status?: number; body: unknown }[]) {
  const calls: { target: string; body: Record<string, unknown> }[] = [];
  const fetchImpl: Fetch = async (_url, init) => {
    const headers = init.headers as Record<string, string>;
    calls.push({
      target: (headers['x-amz-target'] ?? '').replace('AWSCognitoIdentityProviderService.', ''),
      body: JSON.parse(String(init.body)) as Record<string, unknown>,
    });
    const answer = answers.shift();
    if (!answer) throw new Error('unexpected call');
    return new Response(JSON.stringify(answer.body), { status: answer.status ?? 200 });
  };
  return { client: new CognitoClient('https://cognito.test/', 'client-1', fetchImpl), calls };
}

class MemoryStorage implements TokenStorage {
  readonly items = new Map<string, string>();
  getItem = (key: string) => this.items.get(key) ?? null;
  setItem = (key: string, value: string) => void this.items.set(key, value);
  removeItem = (key: string) => void this.items.delete(key);
}

describe('console Cognito sign-in', () => {
  it('signs in with USER_PASSWORD_AUTH and reads the expiry from the ID token', async () => {
    const { client, calls } = fakeCognito([{ body: result() }]);

    const step = await client.signIn('alice', 'pw');

    expect(step.kind).toBe('signed-in');
    expect(step.kind === 'signed-in' && step.tokens.expiresAt).toBe(2_000_000_000_000);
    expect(calls[0]).toEqual({
      target: 'InitiateAuth',
      body: {
        ClientId: 'client-1',
        AuthFlow: 'USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: 'alice', PASSWORD: 'pw' },
      },
    });
  });

  it("names Cognito's refusal by its exception", async () => {
    const { client } = fakeCognito([
      { status: 400, body: { __type: 'NotAuthorizedException', message: 'Incorrect username or password.' } },
    ]);

    await expect(client.signIn('alice', 'bad')).rejects.toMatchObject({
      code: 'NotAuthorizedException',
      message: 'Incorrect username or password.',
    });
  });

  it('sets up TOTP when the pool requires MFA: associate, verify, then answer MFA_SETUP', async () => {
    const { client, calls } = fakeCognito([
      {
        body: {
          ChallengeName: 'MFA_SETUP',
          Session: 's1',
          ChallengeParameters: { USER_ID_FOR_SRP: 'alice-id' },
        },
      },
      { body: { SecretCode: 'SECRET', Session: 's2' } },
      { body: { Status: 'SUCCESS', Session: 's3' } },
      { body: result() },
    ]);

    const setup = await client.signIn('alice@example.com', 'pw');
    expect(setup).toEqual({ kind: 'mfa-setup', username: 'alice-id', session: 's2', secretCode: 'SECRET' });
    if (setup.kind !== 'mfa-setup') return;
    const done = await client.verifyMfaSetup(setup, '123456');

    expect(done.kind).toBe('signed-in');
    expect(calls.map((c) => c.target)).toEqual([
      'InitiateAuth',
      'AssociateSoftwareToken',
      'VerifySoftwareToken',
      'RespondToAuthChallenge',
    ]);
    expect(calls[2]?.body).toMatchObject({ Session: 's2', UserCode: '123456' });
    // The alias signs in; the challenge answers name the pool's user.
    expect(calls[3]?.body).toMatchObject({
      ChallengeName: 'MFA_SETUP',
      Session: 's3',
      ChallengeResponses: { USERNAME: 'alice-id' },
    });
  });

  it('answers SOFTWARE_TOKEN_MFA with the code', async () => {
    const { client, calls } = fakeCognito([
      { body: { ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 's1' } },
      { body: result() },
    ]);

    const step = await client.signIn('alice', 'pw');
    expect(step).toEqual({ kind: 'mfa-code', username: 'alice', session: 's1' });
    if (step.kind !== 'mfa-code') return;
    await client.answerMfaCode(step, '654321');

    expect(calls[1]?.body).toMatchObject({
      ChallengeName: 'SOFTWARE_TOKEN_MFA',
      ChallengeResponses: { USERNAME: 'alice', SOFTWARE_TOKEN_MFA_CODE: '654321' },
    });
  });

  it('asks for a new password when the account has a temporary one', async () => {
    const { client, calls } = fakeCognito([
      { body: { ChallengeName: 'NEW_PASSWORD_REQUIRED', Session: 's1' } },
      { body: result() },
    ]);

    const step = await client.signIn('alice', 'temporary');
    expect(step.kind).toBe('new-password');
    if (step.kind !== 'new-password') return;
    expect((await client.setNewPassword(step, 'Brand-new-passw0rd!')).kind).toBe('signed-in');
    expect(calls[1]?.body).toMatchObject({ ChallengeResponses: { NEW_PASSWORD: 'Brand-new-passw0rd!' } });
  });

  it('refuses a challenge it cannot answer with a message that says what to use instead', async () => {
    const { client } = fakeCognito([{ body: { ChallengeName: 'SMS_MFA', Session: 's1' } }]);

    await expect(client.signIn('alice', 'pw')).rejects.toThrow(/SMS_MFA.*use the CLI/);
  });
});

describe('console session', () => {
  const tokens = (expiresAt: number, groups = ['operator']): Tokens => ({
    idToken: jwt({ exp: expiresAt / 1000, 'cognito:groups': groups, 'cognito:username': 'alice' }),
    accessToken: 'a',
    refreshToken: 'r-1',
    expiresAt,
  });

  it('uses the ID token while it has more than a few minutes left', async () => {
    const { client, calls } = fakeCognito([]);
    const session = new Session(client, new MemoryStorage(), () => 1_000_000);
    session.start(tokens(1_000_000 + 30 * 60_000));

    expect(await session.idToken()).toBe(tokens(1_000_000 + 30 * 60_000).idToken);
    expect(calls).toEqual([]);
  });

  it('refreshes once, however many requests ask, keeping the refresh token Cognito does not rotate', async () => {
    const { client, calls } = fakeCognito([{ body: result({}, '') }]);
    const storage = new MemoryStorage();
    const session = new Session(client, storage, () => 1_000_000);
    session.start(tokens(1_000_000 + 60_000));

    const [a, b] = await Promise.all([session.idToken(), session.idToken()]);

    expect(a).toBe(b);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.body).toMatchObject({
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters: { REFRESH_TOKEN: 'r-1' },
    });
    expect(JSON.parse(storage.getItem('edgeops.console.session') ?? '{}').refreshToken).toBe('r-1');
  });

  it('ends the session when the refresh token is refused', async () => {
    const { client } = fakeCognito([
      { status: 400, body: { __type: 'NotAuthorizedException', message: 'expired' } },
    ]);
    const storage = new MemoryStorage();
    const session = new Session(client, storage, () => 1_000_000);
    session.start(tokens(1_000_000));

    await expect(session.idToken()).rejects.toBeInstanceOf(SignedOutError);
    expect(session.signedIn).toBe(false);
    expect(storage.items.size).toBe(0);
  });

  it('revokes the refresh token on sign-out, and ends the session even if Cognito cannot be reached', async () => {
    const { client, calls } = fakeCognito([{ status: 500, body: { __type: 'InternalErrorException' } }]);
    const storage = new MemoryStorage();
    const session = new Session(client, storage, () => 1_000_000);
    session.start(tokens(2_000_000));

    await session.signOut();

    expect(calls).toEqual([{ target: 'RevokeToken', body: { ClientId: 'client-1', Token: 'r-1' } }]);
    expect(session.signedIn).toBe(false);
    expect(storage.items.size).toBe(0);
  });

  it("comes back from the tab's storage after a reload, with the strongest role of the groups", () => {
    const storage = new MemoryStorage();
    new Session(fakeCognito([]).client, storage).start(tokens(2_000_000_000_000, ['viewer', 'admin']));

    const reloaded = new Session(fakeCognito([]).client, storage);

    expect(reloaded.signedIn).toBe(true);
    expect(reloaded.role).toBe('admin');
    expect(reloaded.username).toBe('alice');
  });

  it('is a CognitoError for a token that is not a JWT', async () => {
    const { client } = fakeCognito([
      { body: { AuthenticationResult: { IdToken: 'x', AccessToken: 'a', RefreshToken: 'r' } } },
    ]);
    await expect(client.signIn('a', 'b')).rejects.toBeInstanceOf(CognitoError);
  });
});

describe('console rollout buttons', () => {
  it('shows a viewer none, whatever the status', () => {
    for (const status of ['running', 'paused', 'awaiting-approval', 'halted', 'succeeded'])
      expect(rolloutActions('viewer', status)).toEqual([]);
    expect(rolloutActions(undefined, 'running')).toEqual([]);
  });

  it('shows an operator and an admin what the status allows', () => {
    for (const role of ['operator', 'admin'] as const) {
      expect(rolloutActions(role, 'running')).toEqual(['pause', 'abort']);
      expect(rolloutActions(role, 'pausing')).toEqual(['resume', 'abort']);
      expect(rolloutActions(role, 'paused')).toEqual(['resume', 'abort']);
      expect(rolloutActions(role, 'awaiting-approval')).toEqual(['approve', 'abort']);
      expect(rolloutActions(role, 'halted')).toEqual(['rollback']);
      expect(rolloutActions(role, 'succeeded')).toEqual(['rollback']);
    }
  });
});

describe('console forms', () => {
  it('reads waves as counts and percents, and names a bad one', () => {
    expect(parseWaves('4, 30%, 100%')).toEqual([{ count: 4 }, { percent: 30 }, { percent: 100 }]);
    expect(() => parseWaves('4, lots')).toThrow('Waves: "lots" is neither');
    expect(() => parseWaves(' , ')).toThrow('Waves: give at least one wave');
  });

  it('refuses a config.json without a field, naming it', () => {
    expect(() => parseConsoleConfig({ apiUrl: '/api/', region: 'eu-west-1', userPoolId: 'p' })).toThrow(
      'config.json: clientId must be a non-empty string',
    );
    expect(
      parseConsoleConfig({ apiUrl: '/api/', region: 'eu-west-1', userPoolId: 'p', clientId: 'c' }),
    ).toEqual({ apiUrl: '/api/', region: 'eu-west-1', userPoolId: 'p', clientId: 'c' });
  });
});
