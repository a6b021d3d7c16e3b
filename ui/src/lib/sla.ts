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
