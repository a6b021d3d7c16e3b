// The alert rules as people read them, and which of the conditions that need attention the
// page's strip under the top bar tells (the others are told where they are seen already).
import type { ActiveCondition, Rule } from './types';

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
