import { describe, expect, it } from 'vitest';
import { missingIdText, timeInStatus } from './timeline';
import type { TimelineEntry } from './types';

function entry(deliveryId: number, receivedAt: number, status: string, duplicate = false, statusSetAt: number | null = null): TimelineEntry {
  return {
    rejectionReason: null,
    statusSetAt,
    dateOfBirth: null,
    deliveryId,
    receivedAt,
    eventId: null,
    duplicate,
    polled: false,
    watched: false,
    replayOf: null,
    edited: false,
    headers: [],
    withheld: false,
    decision: '',
    status,
    subStatus: '',
    participantId: '',
    account: '',
    body: null,
    bodyBase64: null,
  };
}

describe('timeline', () => {
  it('measures each status from its first delivery to the next status, the last until now', () => {
    const spans = timeInStatus(
      [
        entry(1, 1_000, 'NOT_STARTED'),
        entry(2, 5_000, 'OPEN'),
        entry(3, 6_000, 'OPEN'), // a subStatus change: the same status goes on
        entry(4, 7_000, 'NOT_STARTED', true), // a duplicate changes nothing
        entry(5, 65_000, 'ON_HOLD'),
      ],
      125_000,
    );
    expect([...spans]).toEqual([
      [1, { ms: 4_000, current: false }],
      [2, { ms: 60_000, current: false }],
      [5, { ms: 60_000, current: true }],
    ]);
  });

  it("counts a status from when the provider set it, where it said", () => {
    const spans = timeInStatus([entry(1, 10_000, 'OPEN'), entry(2, 50_000, 'CLOSED', false, 30_000)], 90_000);
    expect([...spans]).toEqual([
      [1, { ms: 20_000, current: false }],
      [2, { ms: 60_000, current: true }],
    ]);
  });

  it('says what a missing id means for the decision', () => {
    expect(missingIdText('')).toBe('not yet (set on approval)');
    expect(missingIdText('REVIEW')).toBe('not yet (set on approval)');
    expect(missingIdText('REJECT')).toBe('none: the user was rejected');
    expect(missingIdText('ACCEPT')).toBe('not sent by the provider');
  });
});
