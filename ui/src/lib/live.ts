// Fans the live feed out to whichever views are open, one batch per frame (the changes that
// arrived since the last frame, in commit order), and each new audit entry as it comes.
import type { AuditEntry, Case, Change } from './types';

type Listener = {
  onChanges: (changes: Change[]) => void;
  onResync: () => void;
  onAudit?: (entry: AuditEntry) => void;
  /** Someone worked on a case (in this window or another). */
  onCase?: (cased: Case) => void;
};
const listeners = new Set<Listener>();

export function listen(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function announce(changes: Change[]): void {
  for (const listener of listeners) listener.onChanges(changes);
}

export function announceAudit(entry: AuditEntry): void {
  for (const listener of listeners) listener.onAudit?.(entry);
}

export function announceCase(cased: Case): void {
  for (const listener of listeners) listener.onCase?.(cased);
}

export function announceResync(): void {
  for (const listener of listeners) listener.onResync();
}
