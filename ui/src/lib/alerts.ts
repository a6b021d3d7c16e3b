// The alert rules as people read them, and which of the conditions that need attention the
// page's strip under the top bar tells (the others are told where they are seen already).
import { viewAllowed } from './access';
import { duration } from './format';
import { parseRoute } from './route';
import type { ActiveCondition, Role, Rule } from './types';

export const RULE_NAMES: Record<Rule, string> = {
  'review-sla': 'Review past its SLA',
  silence: 'Silence',
  'refused-signatures': 'Refused signatures',
  'forwarding-failing': 'Forwarding failing',
  'store-refusing': 'Database refusing commits',
};

/** The conditions the strip shows, oldest first: cases past the SLA are counted on the Review
 * link, and the database refusing commits has a banner of its own. */
export function stripConditions(conditions: ActiveCondition[]): ActiveCondition[] {
  return conditions
    .filter((active) => active.rule !== 'review-sla' && active.rule !== 'store-refusing')
    .sort((a, b) => a.since - b.since || a.key.localeCompare(b.key));
}

/** The address of the view that shows a condition, when `role` may open it (none before the
 * session is known): a link to "Not available to your role" helps nobody. */
export function conditionLink(active: ActiveCondition, role: Role | null): string | null {
  return role !== null && viewAllowed(role, parseRoute(active.view).view) ? active.view : null;
}

/** How long a condition has held, after the monitor's own summary: " — for 35 s". */
export function heldFor(since: number, now: number): string {
  return ` — for ${duration(now - since)}`;
}
