// Who is signed in, read once when the page starts (App), and what their role lets the page
// show: every component that hides a view or a button asks `can` here.
import { allowed, type OperationName } from './access';
import type { SessionView } from './types';

export const signedIn = $state<{ session: SessionView | null }>({ session: null });

/** Whether the signed-in person may call the operation `name` (nobody may before the session is known). */
export function can(name: OperationName): boolean {
  return signedIn.session !== null && allowed(signedIn.session.role, name);
}
