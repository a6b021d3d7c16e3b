import { describe, expect, it } from 'vitest';
import { caseClock, isOverSla, overSlaCount } from './sla';
import type { Case } from './types';

const base: Case = {
  externalId: 'u1',
  version: 0,
  assignee: null,
  marker: null,
  updatedBy: null,
  updatedAt: null,
  lastAction: null,
  inQueue: true,
  clockMs: 1_000,
  dueAt: 10_000,
  overSla: false,
  notes: [],
  notesWithheld: false,
};

describe('the review SLA in the page', () => {
  it('is over when the monitor said so, or once the running clock passes its due time', () => {
    expect(isOverSla({ ...base, overSla: true, dueAt: null }, 0)).toBe(true);
    expect(isOverSla(base, 10_000)).toBe(false);
    expect(isOverSla(base, 10_001)).toBe(true);
    // Waiting on the customer: the clock stands still, there is no due time.
    expect(isOverSla({ ...base, marker: 'waiting-on-customer', dueAt: null }, 1e12)).toBe(false);
    expect(isOverSla(undefined, 1e12)).toBe(false);
  });

  it('counts what the monitor counted and the listed cases that passed due since, once each', () => {
    const over = { ...base, externalId: 'u2', overSla: true, dueAt: 5_000 };
    const paused = { ...base, externalId: 'u3', dueAt: null };
    expect(overSlaCount(1, [over, base, paused, undefined], 9_000)).toBe(1);
    expect(overSlaCount(1, [over, base, paused, undefined], 11_000)).toBe(2);
  });

  it('runs the case clock on from when the monitor said it, unless it is paused', () => {
    expect(caseClock(base, 5_000, 5_000)).toBe(1_000);
    expect(caseClock(base, 5_000, 17_000)).toBe(13_000);
    // A page clock behind the arrival time never runs it backwards.
    expect(caseClock(base, 5_000, 4_000)).toBe(1_000);
    expect(caseClock({ ...base, marker: 'waiting-on-customer', dueAt: null }, 5_000, 1e12)).toBe(1_000);
    expect(caseClock({ ...base, inQueue: false, clockMs: null, dueAt: null }, 5_000, 1e12)).toBe(null);
  });
});
