import { describe, expect, it } from 'vitest';
import { countsByColumn, emptyBoard, mergeNewestFirst, moveUser } from './board';
import type { User } from './types';

function user(externalId: string, status: string, statusSince = 0): User {
  return {
    externalId,
    decision: '',
    status,
    subStatus: '',
    participantId: '',
    account: '',
    firstSeenAt: 0,
    lastSeenAt: 0,
    statusSince,
    eventCount: 1,
    knownStatus: true,
    knownDecision: true,
  };
}

const ids = (users: User[]) => users.map((u) => u.externalId);

describe('board', () => {
  it('sums counters into columns, unknown statuses into other', () => {
    const totals = countsByColumn([
      { status: 'OPEN', decision: '', users: 3 },
      { status: 'OPEN', decision: 'REVIEW', users: 2 },
      { status: 'FROZEN', decision: '', users: 1 },
      { status: 'KYC_STATUS_RESUBMIT', decision: '', users: 4 },
    ]);
    expect([totals.OPEN, totals.OTHER, totals.CLOSED]).toEqual([5, 5, 0]);
  });

  it('puts a new user on top of its column', () => {
    let board = moveUser(emptyBoard(), user('a', 'OPEN'));
    board = moveUser(board, user('b', 'OPEN'));
    expect(ids(board.OPEN)).toEqual(['b', 'a']);
  });

  it('moves a user between columns without leaving a copy behind', () => {
    let board = moveUser(emptyBoard(), user('a', 'OPEN'));
    board = moveUser(board, user('b', 'OPEN'));
    board = moveUser(board, user('a', 'ON_HOLD'));
    expect(ids(board.OPEN)).toEqual(['b']);
    expect(ids(board.ON_HOLD)).toEqual(['a']);
  });

  it('refreshes a card and lifts it to the top when its status stays', () => {
    let board = moveUser(emptyBoard(), user('a', 'OPEN'));
    board = moveUser(board, user('b', 'OPEN'));
    board = moveUser(board, { ...user('a', 'OPEN'), subStatus: 'pending' });
    expect(board.OPEN.map((u) => [u.externalId, u.subStatus])).toEqual([
      ['a', 'pending'],
      ['b', ''],
    ]);
  });

  it('keeps unknown statuses together in the other column, newest first', () => {
    let board = moveUser(emptyBoard(), user('a', 'FROZEN'));
    board = moveUser(board, user('a', 'THAWED'));
    expect(board.OTHER.map((u) => u.status)).toEqual(['THAWED']);
    expect(ids(mergeNewestFirst([[user('x', 'A', 5), user('y', 'A', 1)], [user('z', 'B', 3)]]))).toEqual(['x', 'z', 'y']);
  });
});
