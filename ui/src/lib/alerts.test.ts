import { describe, expect, it } from 'vitest';
import { conditionLink, heldFor, stripConditions } from './alerts';
import type { ActiveCondition } from './types';

const condition = (key: string, rule: ActiveCondition['rule'], since: number): ActiveCondition => ({
  key,
  rule,
  since,
  summary: `${rule} summary`,
  view: '#/deliveries',
});

describe('stripConditions', () => {
  it('leaves out what the Review link and the store banner already tell', () => {
    const shown = stripConditions([
      condition('review-sla', 'review-sla', 1),
      condition('store', 'store-refusing', 2),
      condition('silence', 'silence', 3),
    ]);
    expect(shown.map((active) => active.key)).toEqual(['silence']);
  });

  it('puts the oldest first, and conditions of one moment in the order of their keys', () => {
    const shown = stripConditions([
      condition('forwarding:2', 'forwarding-failing', 50),
      condition('refused', 'refused-signatures', 10),
      condition('forwarding:1', 'forwarding-failing', 50),
    ]);
    expect(shown.map((active) => active.key)).toEqual(['refused', 'forwarding:1', 'forwarding:2']);
  });
});

describe('conditionLink', () => {
  it('links the view only for a role that may open it', () => {
    const silence = condition('silence', 'silence', 1);
    expect(conditionLink(silence, 'admin')).toBe('#/deliveries');
    expect(conditionLink(silence, 'compliance')).toBe('#/deliveries');
    expect(conditionLink(silence, 'support')).toBeNull();
    expect(conditionLink(silence, 'viewer')).toBeNull();
    expect(conditionLink(silence, null)).toBeNull();
    // The board is every role's.
    expect(conditionLink({ ...silence, view: '#/' }, 'viewer')).toBe('#/');
  });
});

describe('heldFor', () => {
  it('says how long, without brackets, and runs on with the clock', () => {
    expect(heldFor(1_000, 36_000)).toBe(' — for 35 s');
    expect(heldFor(1_000, 37_000)).toBe(' — for 36 s');
    expect(heldFor(0, 3_900_000)).toBe(' — for 1 h 5 min');
    expect(heldFor(5_000, 1_000)).toBe(' — for 0 s');
  });
});
