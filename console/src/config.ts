/**
 * `config.json`, next to index.html: written by the deployment (the aws stage's BucketDeployment,
 * or the local server), so one build serves every stack.
 */
export interface ConsoleConfig {
  /** The operator API's base URL; relative (`/api/`) when the console's own origin proxies it. */
  readonly apiUrl: string;
  readonly region: string;
  readonly userPoolId: string;
  readonly clientId: string;
  /** @default `https://cognito-idp.<region>.amazonaws.com/` */
  readonly cognitoEndpoint?: string;
}

export function parseConsoleConfig(value: unknown): ConsoleConfig {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const text = (name: keyof ConsoleConfig, optional = false) => {
    const field = record[name];
    if (field === undefined && optional) return undefined;
    if (typeof field !== 'string' || field === '')
      throw new Error(`config.json: ${name} must be a non-empty string`);
    return field;
  };
  const cognitoEndpoint = text('cognitoEndpoint', true);
  return {
    apiUrl: text('apiUrl') as string,
    region: text('region') as string,
    userPoolId: text('userPoolId') as string,
    clientId: text('clientId') as string,
    ...(cognitoEndpoint ? { cognitoEndpoint } : {}),
  };
}

export const cognitoEndpointOf = (config: ConsoleConfig) =>
  config.cognitoEndpoint ?? `https://cognito-idp.${config.region}.amazonaws.com/`;
