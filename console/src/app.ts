import type { OperatorRole } from '../../functions/domain/operator-role';
import type { Api } from './api';

/** What every page gets: the API, who is signed in, where it is, and ways to speak and move. */
export interface PageContext {
  readonly api: Api;
  readonly role: OperatorRole | undefined;
  /** Path segments after `#/`, e.g. ['rollouts', 'ro-…']. */
  readonly path: readonly string[];
  readonly query: URLSearchParams;
  /** Says `message` through the page-wide polite live region (action results, errors). */
  announce(message: string): void;
  navigate(hash: string): void;
  /** Sets the page's title (document title and its h1's text). */
  title(text: string): void;
}

/** A page renders into `main` and may return a cleanup (stop polling) for when the route changes. */
export type Page = (ctx: PageContext, main: HTMLElement) => Promise<(() => void) | undefined>;

/** A `#/path?query` link. */
export function link(path: string, query: Record<string, string | undefined> = {}): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) search.set(key, value);
  const qs = search.toString();
  return `#/${path}${qs ? `?${qs}` : ''}`;
}

/** The message of anything thrown, for a person to read. */
export const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
