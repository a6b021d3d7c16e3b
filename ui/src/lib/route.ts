// Views live in the address's hash, so reload and back/forward keep the place; the board's
// filters too (#/?decision=REVIEW&minAge=60), and the review queue's (#/review?subStatus=doc).
import { filterParams, parseFilter, type UserFilter } from './filters';

export type Route =
  | { view: 'board'; filter: UserFilter }
  | { view: 'review'; filter: UserFilter }
  | { view: 'deliveries' }
  | { view: 'stats' }
  | { view: 'register' }
  | { view: 'settings' }
  | { view: 'audit' }
  | { view: 'user'; externalId: string };

/** The view an address names; the board for any address it has no view for. Settings show a
 * browser what it can do there (a backup), and the desktop app its own settings too. */
export function parseRoute(hash: string): Route {
  const address = hash.replace(/^#/, '');
  const query = address.indexOf('?');
  const path = query < 0 ? address : address.slice(0, query);
  if (path.startsWith('/user/')) return { view: 'user', externalId: decodeURIComponent(path.slice('/user/'.length)) };
  const params = new URLSearchParams(query < 0 ? '' : address.slice(query + 1));
  if (path === '/review') return { view: 'review', filter: parseFilter(params) };
  if (path === '/deliveries') return { view: 'deliveries' };
  if (path === '/stats') return { view: 'stats' };
  if (path === '/register') return { view: 'register' };
  if (path === '/settings') return { view: 'settings' };
  if (path === '/audit') return { view: 'audit' };
  return { view: 'board', filter: parseFilter(params) };
}

/** The board's address, with its filters. */
export function boardHref(filter: UserFilter): string {
  const params = filterParams(filter);
  return params ? `#/?${params}` : '#/';
}

/** The review queue's address, with its filters. */
export function reviewHref(filter: UserFilter): string {
  const params = filterParams(filter);
  return params ? `#/review?${params}` : '#/review';
}

export function userHref(externalId: string): string {
  return `#/user/${encodeURIComponent(externalId)}`;
}

const VIEW_TITLES: Record<Exclude<Route['view'], 'user'>, string> = {
  board: 'Board',
  review: 'Review queue',
  deliveries: 'Deliveries',
  stats: 'Stats',
  register: 'Register',
  settings: 'Settings',
  audit: 'Audit log',
};

/** The tab's title: the user's externalId on a user page, else the view's name. */
export function pageTitle(route: Route): string {
  const name = route.view === 'user' ? route.externalId : VIEW_TITLES[route.view];
  return `${name} · KYC Monitor`;
}
