// How a user's timeline reads: how long each status lasted, and what an empty id means for
// the decision the user has. Pure functions, tested in timeline.test.ts.
import type { TimelineEntry } from './types';

/**
 * For each entry that put the user in a status (not a duplicate, a status other than the one
 * before), how long the user stayed in it: until the next status began, or until `now` for the
 * status the user is still in (`current`). Keyed by delivery id. A status begins when the
 * provider set it (`statusSetAt`) where it said, else when the delivery arrived, as the stats
 * count it.
 */
export function timeInStatus(timeline: TimelineEntry[], now: number): Map<number, { ms: number; current: boolean }> {
  const starts: TimelineEntry[] = [];
  for (const entry of timeline) {
    if (!entry.duplicate && entry.status !== starts.at(-1)?.status) starts.push(entry);
  }
  const spans = new Map<number, { ms: number; current: boolean }>();
  const began = (entry: TimelineEntry) => entry.statusSetAt ?? entry.receivedAt;
  starts.forEach((entry, index) => {
    const next = starts[index + 1];
    const ms = Math.max(0, (next ? began(next) : now) - began(entry));
    spans.set(entry.deliveryId, { ms, current: next === undefined });
  });
  return spans;
}

/** What an empty participantId or account means: the provider sets them on approval. */
export function missingIdText(decision: string): string {
  switch (decision) {
    case 'ACCEPT':
      return 'not sent by the provider';
    case 'REJECT':
      return 'none: the user was rejected';
    default:
      return 'not yet (set on approval)';
  }
}
