import { describe, expect, it } from 'vitest';
import { stripConditions } from './alerts';
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
