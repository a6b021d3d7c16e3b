// Views live in the address's hash, so reload and back/forward keep the place.
export type Route =
  | { view: 'board' }
  | { view: 'deliveries' }
  | { view: 'stats' }
  | { view: 'register' }
  | { view: 'settings' }
  | { view: 'user'; externalId: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '');
  if (path.startsWith('/user/')) return { view: 'user', externalId: decodeURIComponent(path.slice('/user/'.length)) };
  if (path === '/deliveries') return { view: 'deliveries' };
  if (path === '/stats') return { view: 'stats' };
  if (path === '/register') return { view: 'register' };
  if (path === '/settings') return { view: 'settings' };
  return { view: 'board' };
}

export function userHref(externalId: string): string {
  return `#/user/${encodeURIComponent(externalId)}`;
}
