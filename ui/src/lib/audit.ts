// The Audit view's filters as the monitor takes them: the form's texts and local times turned
// into an AuditQuery (times as Unix milliseconds), and words for what an action was.
import type { AuditQuery } from './types';

export type AuditForm = { actor: string; action: string; target: string; from: string; to: string };

export const emptyAuditForm = (): AuditForm => ({ actor: '', action: '', target: '', from: '', to: '' });

/** A `datetime-local` input's value (local time) as Unix milliseconds; null when empty or not a time. */
export function localTimeToMillis(text: string): number | null {
  if (!text) return null;
  const millis = new Date(text).getTime();
  return Number.isFinite(millis) ? millis : null;
}

/** The query for a page of the log: empty texts filter nothing; `to` is inclusive of its minute. */
export function auditQuery(form: AuditForm, before: number | null, limit: number): AuditQuery {
  const to = localTimeToMillis(form.to);
  return {
    actor: form.actor.trim() || null,
    action: form.action || null,
    target: form.target.trim() || null,
    since: localTimeToMillis(form.from),
    until: to === null ? null : to + 60_000,
    before,
    limit,
  };
}

/** "user-viewed" → "user viewed". */
export function actionWords(action: string): string {
  return action.replaceAll('-', ' ');
}
