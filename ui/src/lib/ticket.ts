// "Copy for a ticket": a user's state, ids and timeline as plain text, times absolute in UTC, so
// that what is pasted into a ticket reads the same to whoever opens it, wherever and whenever.
// Never personal data from the payload (a date of birth): a ticket travels further than a role.
import { visibleId } from './format';
import type { UserDetail } from './types';

/** RFC 3339 in UTC, to the millisecond: `2026-11-29T10:00:00.123Z`. */
function utc(ms: number): string {
  return new Date(ms).toISOString();
}

const or = (value: string, none: string) => (value === '' ? none : visibleId(value));

export function ticketText(detail: UserDetail): string {
  const user = detail.user;
  const lines = [
    `KYC Monitor: user ${visibleId(user.externalId)}`,
    `externalId: ${visibleId(user.externalId)}`,
    `status: ${or(user.status, '(empty)')} since ${utc(user.statusSince)}`,
    ...(user.statusSetAt !== null ? [`status set by the provider: ${utc(user.statusSetAt)}`] : []),
    `decision: ${or(user.decision, '(none)')}`,
    ...(user.rejectionReason ? [`rejection reason: ${visibleId(user.rejectionReason)}`] : []),
    `subStatus: ${or(user.subStatus, '(none)')}`,
    `participantId: ${or(user.participantId, '(none)')}`,
    `account: ${or(user.account, '(none)')}`,
    `first seen: ${utc(user.firstSeenAt)}`,
    `last seen: ${utc(user.lastSeenAt)}`,
    `timeline (${detail.timeline.length} notifications, oldest first, times in UTC):`,
  ];
  for (const entry of detail.timeline) {
    const marks = [
      entry.duplicate ? 'duplicate' : '',
      entry.polled ? 'learned by polling' : '',
      entry.watched ? 'watched' : '',
      entry.replayOf !== null ? `${entry.edited ? 'edited replay' : 'replay'} of delivery #${entry.replayOf}` : '',
    ].filter(Boolean);
    const said = [`status ${or(entry.status, '(empty)')}`, `decision ${or(entry.decision, '(none)')}`];
    if (entry.subStatus) said.push(`subStatus ${visibleId(entry.subStatus)}`);
    if (entry.rejectionReason) said.push(`rejection reason ${visibleId(entry.rejectionReason)}`);
    if (entry.statusSetAt !== null) said.push(`set by the provider at ${utc(entry.statusSetAt)}`);
    lines.push(`- ${utc(entry.receivedAt)} delivery #${entry.deliveryId}: ${said.join(', ')}${marks.length ? ` (${marks.join(', ')})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
