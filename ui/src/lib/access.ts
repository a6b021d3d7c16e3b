// What the signed-in person's role lets the page show: decided from each operation's least role
// in OPERATIONS (generated from the monitor's declarations), never from a list of our own. The
// monitor refuses the rest anyway; this only keeps views and buttons a role cannot use away.
import { OPERATIONS, type Role } from './types';
import type { Route } from './route';

export type OperationName = keyof typeof OPERATIONS;

/** Lowest first, as the monitor ranks them. */
const RANK: Record<Role, number> = { viewer: 0, support: 1, compliance: 2, admin: 3 };

/** Whether `role` may call the operation `name`. */
export function allowed(role: Role, name: OperationName): boolean {
  return RANK[role] >= RANK[OPERATIONS[name].least];
}

/** The operation each view is made of: a role that may not call it does not see the view. */
const VIEW_NEEDS: Record<Route['view'], OperationName> = {
  board: 'board',
  stats: 'stats',
  review: 'review',
  deliveries: 'deliveries',
  register: 'provider_overview',
  // In a browser Settings holds the backup (and the UI link); the window's own settings are
  // the local admin's.
  settings: 'backup',
  audit: 'audit_log',
  user: 'user',
};

/** Whether `role` sees the view `view`. */
export function viewAllowed(role: Role, view: Route['view']): boolean {
  return allowed(role, VIEW_NEEDS[view]);
}

/** Whether the monitor hid the secret part of a webhook URL (`…/kyc-webhook/****`), as it does
 * for roles below admin: such a URL is shown, but copying it would hand on a URL that works
 * nowhere. */
export function tokenHidden(url: string): boolean {
  const at = url.indexOf('/kyc-webhook/');
  return at >= 0 && url.slice(at + '/kyc-webhook/'.length) === '****';
}
