/** `edgeops login`, `logout` and `whoami`: a Cognito sign-in kept per profile. */
import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { CognitoError } from '../cognito';
import type { Profile } from '../config';
import { CliError, ExitCode } from '../errors';
import type { Runner } from '../program';
import { signIn, tokenIdentity, withSlash } from '../session';

interface LoginOptions {
  apiUrl?: string;
  clientId?: string;
  userPoolId?: string;
  authFlow?: 'srp' | 'password';
  region?: string;
  cognitoEndpoint?: string;
  outputsFile?: string;
  stack?: string;
  username?: string;
  passwordStdin?: boolean;
}

/**
 * `cdk deploy --outputs-file` writes `{<stack>: {ApiUrl, UserPoolClientId, UserPoolId, …}}`:
 * enough to sign in without copying ids by hand.
 */
async function fromOutputsFile(file: string, stack?: string): Promise<Partial<Profile>> {
  let parsed: Record<string, Record<string, string>>;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  } catch (error) {
    throw new CliError(`--outputs-file ${file}: ${(error as Error).message}`, ExitCode.usage);
  }
  const names = Object.keys(parsed);
  const name = stack ?? (names.length === 1 ? names[0] : undefined);
  const outputs = name ? parsed[name] : undefined;
  if (!outputs)
    throw new CliError(
      `--outputs-file ${file}: name the stack with --stack (one of ${names.join(', ')})`,
      ExitCode.usage,
    );
  return {
    ...(outputs.ApiUrl ? { apiUrl: outputs.ApiUrl } : {}),
    ...(outputs.UserPoolClientId ? { clientId: outputs.UserPoolClientId } : {}),
    ...(outputs.UserPoolId
      ? { userPoolId: outputs.UserPoolId, region: outputs.UserPoolId.split('_')[0] }
      : {}),
  };
}

/** The region of `https://{id}.execute-api.{region}.amazonaws.com/…`, if the URL is AWS's. */
const regionOfApiUrl = (url: string) => /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(url)?.[1];

export function registerAuthCommands(program: Command, run: Runner) {
  program
    .command('login')
    .description(
      'sign in with Cognito (password, then a new password or MFA code if the pool asks) and save the login',
    )
    .option('--api-url <url>', 'the operator API base URL (stack output ApiUrl)')
    .option('--client-id <id>', "the user pool's app client id (stack output UserPoolClientId)")
    .option('--user-pool-id <id>', 'the user pool id (stack output UserPoolId); lets login use SRP')
    .addOption(
      new Option(
        '--auth-flow <flow>',
        'srp: the password never leaves this machine (needs the pool id)',
      ).choices(['srp', 'password']),
    )
    .option('--region <region>', "the user pool's region (default: from the API URL or the pool id)")
    .option('--cognito-endpoint <url>', 'another Cognito endpoint (local AWS)')
    .option(
      '--outputs-file <file>',
      'take the API URL, client id and region from `cdk deploy --outputs-file` JSON',
    )
    .option('--stack <name>', 'the stack in --outputs-file (default: the only one)')
    .option('--username <name>', 'user name or e-mail (default: asked, or the last one)')
    .addOption(new Option('--password-stdin', 'read the password from stdin (for scripts)'))
    .addHelpText(
      'after',
      `
The password comes from --password-stdin, else EDGEOPS_PASSWORD, else a prompt. With the pool id
(--user-pool-id or --outputs-file) login uses SRP (USER_SRP_AUTH), else USER_PASSWORD_AUTH over
TLS; --auth-flow picks one. Settings given once are saved in the profile; later logins need only
the user name.

Examples:
  edgeops login --outputs-file cdk-outputs.json --username alice
  edgeops login --api-url https://abc.execute-api.eu-west-1.amazonaws.com/v1/ --client-id 3n4… --username alice`,
    )
    .action(
      run(async ({ ctx, out, session }, _args, options) => {
        const o = options as LoginOptions;
        const saved = await session.profile();
        const fromFile = o.outputsFile ? await fromOutputsFile(o.outputsFile, o.stack) : {};
        const apiUrl = o.apiUrl ?? fromFile.apiUrl ?? saved?.apiUrl;
        const clientId = o.clientId ?? fromFile.clientId ?? saved?.clientId;
        if (!apiUrl || !clientId)
          throw new CliError(
            'first login: give --api-url and --client-id (or --outputs-file)',
            ExitCode.usage,
          );
        try {
          new URL(apiUrl);
        } catch {
          throw new CliError(`--api-url: not a URL: ${apiUrl}`, ExitCode.usage);
        }
        const userPoolId = o.userPoolId ?? fromFile.userPoolId ?? saved?.userPoolId;
        const flow = o.authFlow ?? (userPoolId ? 'srp' : 'password');
        if (flow === 'srp' && !userPoolId)
          throw new CliError('--auth-flow srp needs --user-pool-id (or --outputs-file)', ExitCode.usage);
        const region =
          o.region ??
          userPoolId?.split('_')[0] ??
          fromFile.region ??
          (o.apiUrl ? regionOfApiUrl(o.apiUrl) : undefined) ??
          saved?.region ??
          regionOfApiUrl(apiUrl);
        if (!region) throw new CliError('give --region (the user pool region)', ExitCode.usage);
        const cognitoEndpoint =
          o.cognitoEndpoint ?? (o.apiUrl || o.outputsFile ? undefined : saved?.cognitoEndpoint);
        const username =
          o.username ??
          saved?.username ??
          (ctx.terminal.stderrIsTty ? (await ctx.prompter.ask('User name: ')).trim() : undefined);
        if (!username) throw new CliError('give --username', ExitCode.usage);
        const password = o.passwordStdin
          ? (await ctx.readStdin()).replace(/\r?\n$/, '')
          : (ctx.env.EDGEOPS_PASSWORD ??
            (ctx.terminal.stderrIsTty
              ? await ctx.prompter.ask(`Password for ${username}: `, { secret: true })
              : undefined));
        if (!password)
          throw new CliError(
            'no password: use --password-stdin or EDGEOPS_PASSWORD when not at a terminal',
            ExitCode.usage,
          );

        const profile: Profile = {
          apiUrl: withSlash(apiUrl),
          clientId,
          ...(userPoolId ? { userPoolId } : {}),
          region,
          username,
          ...(cognitoEndpoint ? { cognitoEndpoint } : {}),
        };
        const tokens = await signIn({
          cognito: ctx.cognitoFor(profile),
          clientId,
          username,
          password,
          prompter: ctx.prompter,
          ...(flow === 'srp' && userPoolId ? { srp: { userPoolId, now: ctx.now } } : {}),
        });
        await ctx.store.saveProfile(session.profileName, profile);
        await ctx.store.saveTokens(session.profileName, tokens);
        const who = tokenIdentity(tokens.idToken);
        out.result(
          {
            profile: session.profileName,
            username: who.username,
            groups: who.groups,
            apiUrl: profile.apiUrl,
            idTokenExpiresAt: tokens.idTokenExpiresAt,
          },
          () =>
            `Signed in as ${who.username} (${who.groups.join(', ') || 'no role'}) to ${profile.apiUrl}; ` +
            `profile '${session.profileName}' saved in ${ctx.store.dir}. The session renews itself until the refresh token expires.`,
        );
      }),
    );

  program
    .command('logout')
    .description("forget the profile's tokens (and revoke its refresh token with Cognito)")
    .action(
      run(async ({ ctx, out, session }) => {
        const profile = await session.profile();
        const tokens = await ctx.store.tokens(session.profileName);
        let revoked = false;
        if (profile && tokens) {
          try {
            await ctx
              .cognitoFor(profile)
              .revokeToken({ ClientId: profile.clientId, Token: tokens.refreshToken });
            revoked = true;
          } catch (error) {
            // Signing out locally must work offline and with an expired token.
            if (!(error instanceof CognitoError) && !(error instanceof TypeError)) throw error;
          }
        }
        const removed = await ctx.store.deleteTokens(session.profileName);
        out.result({ profile: session.profileName, signedOut: removed, refreshTokenRevoked: revoked }, () =>
          removed
            ? `Signed out of profile '${session.profileName}'${revoked ? ' (refresh token revoked)' : ''}.`
            : `Profile '${session.profileName}' was not signed in.`,
        );
      }),
    );

  program
    .command('whoami')
    .description('who the saved login is, with which roles, until when (renews the token if due)')
    .action(
      run(async ({ ctx, out, session }) => {
        const credentials = await session.credentials();
        const who = tokenIdentity(credentials.token);
        const tokens = ctx.env.EDGEOPS_TOKEN ? undefined : await ctx.store.tokens(session.profileName);
        out.result(
          {
            profile: session.profileName,
            username: who.username,
            groups: who.groups,
            apiUrl: credentials.apiUrl,
            idTokenExpiresAt: tokens?.idTokenExpiresAt ?? null,
          },
          () =>
            `${who.username} (${who.groups.join(', ') || 'no role'}) at ${credentials.apiUrl}${tokens ? `; token valid until ${tokens.idTokenExpiresAt}` : ''}`,
        );
      }),
    );
}
