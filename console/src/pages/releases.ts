import type { Page } from '../app';
import { h, replaceChildren, table, when } from '../dom';
import type { Page as ApiPage, Release } from '../types';

const size = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;

/** `GET /releases`: newest first, each with its components per hardware type. */
export const releasesPage: Page = async (ctx, main) => {
  ctx.title('Releases');
  const page = await ctx.api.get<ApiPage<Release>>('releases', { limit: 50 });
  replaceChildren(
    main,
    h('h1', { tabindex: -1 }, 'Releases'),
    table(
      'Releases, newest first',
      ['Version', 'Release', 'Created', 'Components', 'Notes'],
      page.items.map((r) => [
        h('strong', null, r.version),
        h('code', null, r.releaseId),
        when(r.createdAt),
        h(
          'ul',
          { class: 'plain' },
          Object.entries(r.components).map(([hardware, components]) =>
            h(
              'li',
              null,
              `${hardware}: `,
              components.map((c) => `${c.name} (${c.handler}, ${size(c.artifact.size)})`).join(', '),
            ),
          ),
        ),
        r.notes ?? '—',
      ]),
      'No releases yet.',
    ),
  );
  return undefined;
};
