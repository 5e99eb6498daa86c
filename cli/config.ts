/**
 * Where the CLI keeps what outlives one command: profiles (API URL, Cognito app client, region)
 * and each profile's cached tokens. The folder is `$EDGEOPS_CONFIG_DIR`, else
 * `$XDG_CONFIG_HOME/edgeops`, else `~/.config/edgeops`; it is made 0700 and every file 0600,
 * because the refresh token signs its holder in for days.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError, ExitCode } from './errors';

export interface Profile {
  /** The operator API's base URL, ending with '/'. */
  readonly apiUrl: string;
  /** The user pool's app client id (stack output `UserPoolClientId`). */
  readonly clientId: string;
  /** The user pool (stack output `UserPoolId`); SRP sign-in needs it. */
  readonly userPoolId?: string;
  readonly region: string;
  /** Another Cognito endpoint than AWS's (local AWS). */
  readonly cognitoEndpoint?: string;
  /** Who signed in last, to offer at the next login. */
  readonly username?: string;
}

export interface CachedTokens {
  readonly username: string;
  readonly idToken: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** When the ID token expires (its `exp`), ISO 8601. */
  readonly idTokenExpiresAt: string;
}

const PROFILE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGEOPS_CONFIG_DIR) return env.EDGEOPS_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'edgeops');
}

/** Reads and writes profiles and tokens in one folder; every write is atomic and 0600. */
export class ConfigStore {
  constructor(readonly dir: string) {}

  async profile(name: string): Promise<Profile | undefined> {
    checkName(name);
    const all = await this.#read<{ profiles?: Record<string, Profile> }>('profiles.json');
    return all?.profiles?.[name];
  }

  async saveProfile(name: string, profile: Profile): Promise<void> {
    checkName(name);
    const all = (await this.#read<{ profiles?: Record<string, Profile> }>('profiles.json')) ?? {};
    await this.#write('profiles.json', { ...all, profiles: { ...all.profiles, [name]: profile } });
  }

  async tokens(name: string): Promise<CachedTokens | undefined> {
    checkName(name);
    return this.#read<CachedTokens>(join('tokens', `${name}.json`));
  }

  async saveTokens(name: string, tokens: CachedTokens): Promise<void> {
    checkName(name);
    await this.#write(join('tokens', `${name}.json`), tokens);
  }

  async deleteTokens(name: string): Promise<boolean> {
    checkName(name);
    const had = (await this.tokens(name)) !== undefined;
    await rm(join(this.dir, 'tokens', `${name}.json`), { force: true });
    return had;
  }

  async #read<T>(file: string): Promise<T | undefined> {
    const path = join(this.dir, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${path} is not valid JSON: remove it and sign in again`, ExitCode.usage);
    }
  }

  async #write(file: string, value: unknown): Promise<void> {
    const path = join(this.dir, file);
    const folder = join(path, '..');
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
    await chmod(temporary, 0o600);
    await rename(temporary, path);
  }
}

function checkName(name: string) {
  if (!PROFILE_NAME.test(name))
    throw new CliError(`profile name '${name}': use 1-64 of letters, digits, _ and -`, ExitCode.usage);
}
