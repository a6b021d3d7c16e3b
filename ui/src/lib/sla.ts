// When a review case is late: over the review SLA (`--review-sla`), as the monitor's core
// defines it (its clock leaves out time waiting on the customer). The queue, its rows, the
// cards and the top bar all go by it; there is no other threshold.
import type { Case } from './types';

/** Whether `cased` is over the SLA at `now` (the page's clock): the monitor said so, or its
 * running clock has passed its due time since the monitor said it. */
export function isOverSla(cased: Case | null | undefined, now: number): boolean {
  return !!cased && (cased.overSla || (cased.dueAt !== null && now > cased.dueAt));
}

/** The queue's over-SLA count at `now`: what the monitor counted under the filters when the
 * page was loaded, and the listed cases whose clock has passed its due time since. */
export function overSlaCount(counted: number, cases: (Case | null | undefined)[], now: number): number {
  return counted + cases.filter((cased) => !!cased && !cased.overSla && isOverSla(cased, now)).length;
}

/** The case's SLA clock at `now`, from what the monitor said at `seenAt` (the page's clock
 * when the case arrived): a running clock (one with a due time) has gone on since; a paused
 * one (waiting on the customer) stands still. */
export function caseClock(cased: Case, seenAt: number, now: number): number | null {
  if (cased.clockMs === null) return null;
  return cased.dueAt !== null ? cased.clockMs + Math.max(0, now - seenAt) : cased.clockMs;
}
