/**
 * The EdgeOps operator console: a static single-page app that signs in with the stack's Cognito
 * user pool and calls the operator API with the ID token. Routes live in the URL's hash
 * (`#/rollouts/ro-…`), so the host serves one index.html and never needs to rewrite missing
 * paths to it (on CloudFront, such a rewrite would also turn the API's own 403/404s into HTML).
 */
import { Api } from './api';
import { link, messageOf, type Page, type PageContext } from './app';
import { CognitoClient } from './cognito';
import { cognitoEndpointOf, parseConsoleConfig } from './config';
import { h, replaceChildren } from './dom';
import { auditPage } from './pages/audit';
import { devicePage } from './pages/device';
import { devicesPage } from './pages/devices';
import { overviewPage } from './pages/overview';
import { releasesPage } from './pages/releases';
import { rolloutPage } from './pages/rollout';
import { rolloutsPage } from './pages/rollouts';
import { renderSignIn } from './pages/sign-in';
import { Session } from './session';

const NAV: readonly (readonly [string, string])[] = [
  ['', 'Overview'],
  ['devices', 'Devices'],
  ['releases', 'Releases'],
  ['rollouts', 'Rollouts'],
  ['audit', 'Audit'],
];

function pageFor(path: readonly string[]): Page | undefined {
  const [section, id] = path;
  if (!section) return overviewPage;
  if (section === 'devices') return id ? devicePage : devicesPage;
  if (section === 'releases' && !id) return releasesPage;
  if (section === 'rollouts') return id ? rolloutPage : rolloutsPage;
  if (section === 'audit' && !id) return auditPage;
  return undefined;
}

async function start(root: HTMLElement) {
  const response = await fetch('config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json: ${response.status}`);
  const config = parseConsoleConfig(await response.json());
  const cognito = new CognitoClient(cognitoEndpointOf(config), config.clientId);
  const session = new Session(cognito, sessionStorage);

  let cleanup: (() => void) | undefined;
  let main: HTMLElement | undefined;
  let nav: HTMLElement | undefined;
  const signIn = () => {
    cleanup?.();
    cleanup = undefined;
    main = undefined;
    session.end();
    document.title = 'Sign in · EdgeOps';
    renderSignIn(root, cognito, (tokens) => {
      session.start(tokens);
      shell();
    });
  };
  const api = new Api(config.apiUrl, session, signIn);
  const announcer = h('div', {
    id: 'announcer',
    class: 'visually-hidden',
    role: 'status',
    'aria-live': 'polite',
  });

  function shell() {
    main = h('main', { id: 'main', tabindex: -1 });
    nav = h(
      'nav',
      { 'aria-label': 'Main' },
      h(
        'ul',
        null,
        NAV.map(([path, label]) => h('li', null, h('a', { href: link(path), 'data-section': path }, label))),
      ),
    );
    const role = session.role;
    replaceChildren(
      root,
      h('a', { href: '#main', class: 'skip-link', onclick: skipToMain }, 'Skip to content'),
      h(
        'header',
        { class: 'top' },
        h('a', { href: link(''), class: 'brand' }, 'EdgeOps'),
        nav,
        h(
          'div',
          { class: 'user' },
          h(
            'span',
            { id: 'whoami' },
            session.username ?? 'operator',
            ' · ',
            h('span', { id: 'role' }, role ?? 'no role'),
          ),
          h('button', { type: 'button', onclick: () => void session.signOut().then(signIn) }, 'Sign out'),
        ),
      ),
      main,
      announcer,
    );
    void route();
  }

  function skipToMain(event: Event) {
    event.preventDefault();
    main?.focus();
  }

  async function route() {
    if (!session.signedIn) return signIn();
    if (!main) return shell();
    cleanup?.();
    cleanup = undefined;
    const [pathPart = '', queryPart = ''] = location.hash.replace(/^#\/?/, '').split('?');
    const path = pathPart.split('/').filter(Boolean);
    for (const a of nav?.querySelectorAll('a') ?? []) {
      if (a.dataset.section === (path[0] ?? '')) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const target = main;
    const ctx: PageContext = {
      api,
      role: session.role,
      path,
      query: new URLSearchParams(queryPart),
      announce: (message) => {
        announcer.textContent = '';
        // A new text node after a tick, so the same message twice is still read out.
        setTimeout(() => {
          announcer.textContent = message;
        }, 50);
      },
      navigate: (hash) => {
        if (location.hash === hash) void route();
        else location.hash = hash;
      },
      title: (text) => {
        document.title = `${text} · EdgeOps`;
      },
    };
    const page = pageFor(path);
    target.setAttribute('aria-busy', 'true');
    replaceChildren(target, h('p', { class: 'muted' }, 'Loading …'));
    try {
      if (!page) {
        ctx.title('Not found');
        replaceChildren(
          target,
          h('h1', { tabindex: -1 }, 'Not found'),
          h('p', null, h('a', { href: link('') }, 'Go to the overview')),
        );
      } else {
        cleanup = await page(ctx, target);
      }
    } catch (error) {
      if (!session.signedIn) return;
      replaceChildren(
        target,
        h('h1', { tabindex: -1 }, 'Something went wrong'),
        h('p', { class: 'error', role: 'alert' }, messageOf(error)),
      );
    } finally {
      target.removeAttribute('aria-busy');
    }
    // Move focus to the new page's heading, so screen readers announce where the user landed.
    target.querySelector<HTMLElement>('h1')?.focus();
  }

  window.addEventListener('hashchange', () => void route());
  if (session.signedIn) shell();
  else signIn();
}

const root = document.getElementById('app');
if (root)
  start(root).catch((error: unknown) => {
    replaceChildren(
      root,
      h(
        'main',
        { id: 'main' },
        h('h1', null, 'The console cannot start'),
        h('p', { role: 'alert' }, messageOf(error)),
      ),
    );
  });
