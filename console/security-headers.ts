/**
 * The response headers the console is served with, by CloudFront (lib/operator-console.ts) and by
 * the local server (scripts/console-server.ts) alike, so local runs and tests see the policy
 * production enforces. The app has no inline script or style, loads nothing from elsewhere, and
 * talks only to its own origin and to Cognito.
 */

/** Content-Security-Policy for the console; `connectSources` are the origins fetch may reach besides its own. */
export function consoleContentSecurityPolicy(connectSources: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${connectSources.map((s) => ` ${s}`).join('')}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The other headers, as the local server sends them (CloudFront sets the same through its policy). */
export const CONSOLE_SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
} as const;
