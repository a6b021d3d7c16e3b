import { describe, expect, it } from 'vitest';
import { emptyBoard, firstPage } from './board';
import { lightUp, story, tallyBoard } from './demo';
import type { User } from './types';

function user(externalId: string, status: string, decision = ''): User {
  return {
    externalId,
    decision,
    status,
    subStatus: '',
    participantId: '',
    account: '',
    firstSeenAt: 0,
    lastSeenAt: 0,
    statusSince: 0,
    eventCount: 1,
    knownStatus: true,
    knownDecision: true,
    rejectionReason: null,
    statusSetAt: null,
  };
}

describe('demo', () => {
  it('lights only the latest few changes, a card changed again counted once', () => {
    expect(lightUp([], ['a', 'b'])).toEqual(['a', 'b']);
    expect(lightUp(['a', 'b', 'c', 'd'], ['e', 'f', 'g'])).toEqual(['c', 'd', 'e', 'f', 'g']);
    expect(lightUp(['a', 'b', 'c'], ['a'])).toEqual(['b', 'c', 'a']);
  });

  it('counts what the cards say, abandoned only where the board marks them', () => {
    const board = {
      ...emptyBoard(),
      NOT_STARTED: firstPage([user('gone-1', 'NOT_STARTED'), user('new', 'NOT_STARTED')], false),
      OPEN: firstPage([user('gone-2', 'OPEN'), user('docs', 'OPEN', 'REVIEW')], false),
      ON_HOLD: firstPage([user('held', 'ON_HOLD', 'REVIEW')], false),
      CLOSED: firstPage([user('yes-1', 'CLOSED', 'ACCEPT'), user('yes-2', 'CLOSED', 'ACCEPT'), user('no', 'CLOSED', 'REJECT')], false),
    };
    expect(tallyBoard(board, new Set(['gone-1', 'gone-2', 'not-on-the-board']))).toEqual({
      users: 8,
      approved: 2,
      rejected: 1,
      held: 1,
      abandoned: 2,
    });
  });

  it("counts only this run's users: not an earlier run's, nor users watched by hand", () => {
    const board = {
      ...emptyBoard(),
      NOT_STARTED: firstPage([user('user-a1-001', 'NOT_STARTED'), user('partner_7', 'NOT_STARTED')], false),
      ON_HOLD: firstPage([user('user-a1-002', 'ON_HOLD', 'REVIEW'), user('user-9f-002', 'ON_HOLD', 'REVIEW')], false),
      CLOSED: firstPage([user('user-a1-003', 'CLOSED', 'ACCEPT'), user('user-9f-001', 'CLOSED', 'REJECT')], false),
    };
    expect(tallyBoard(board, new Set(['user-a1-001', 'partner_7']), 'user-a1-')).toEqual({
      users: 3,
      approved: 1,
      rejected: 0,
      held: 1,
      abandoned: 1,
    });
  });

  it("tells the board's count while it holds every card, the emulator's once a column holds more", () => {
    const tally = { users: 28, approved: 22, rejected: 6, held: 0, abandoned: 0 };
    const summary = { planned: 40, users: 40, sent: 80, acked: 80, retried: 0, failed: 0, dropped: 0, duplicates: 0, approved: 22, rejected: 6, held: 8, abandoned: 4 };
    expect(story(tally, summary, true)).toBe(tally);
    expect(story(tally, summary, false)).toEqual({ users: 40, approved: 22, rejected: 6, held: 8, abandoned: 4 });
  });
});
