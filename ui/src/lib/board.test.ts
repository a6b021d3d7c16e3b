import { describe, expect, it } from 'vitest';
import {
  PAGE_SIZE,
  appendPage,
  applyUsers,
  boardOrder,
  countsByColumn,
  cursorAfter,
  emptyBoard,
  firstPage,
  latestUsers,
  mergeNewestFirst,
  needsRefill,
} from './board';
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
    rejectionReason: null,
    statusSetAt: null,
  };
}

const ids = (users: User[]) => users.map((u) => u.externalId);
const following = () => true;

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
    let board = applyUsers(emptyBoard(), [user('a', 'OPEN', 1)], following);
    board = applyUsers(board, [user('b', 'OPEN', 2)], following);
    expect(ids(board.OPEN.users)).toEqual(['b', 'a']);
  });

  it('moves a user between columns without leaving a copy behind', () => {
    let board = applyUsers(emptyBoard(), [user('a', 'OPEN', 1), user('b', 'OPEN', 2)], following);
    board = applyUsers(board, [user('a', 'ON_HOLD', 3)], following);
    expect(ids(board.OPEN.users)).toEqual(['b']);
    expect(ids(board.ON_HOLD.users)).toEqual(['a']);
  });

  it('refreshes a card in place when its status stays (the monitor keeps its statusSince)', () => {
    let board = applyUsers(emptyBoard(), [user('a', 'OPEN', 1), user('b', 'OPEN', 2)], following);
    board = applyUsers(board, [{ ...user('a', 'OPEN', 1), subStatus: 'pending' }], following);
    expect(board.OPEN.users.map((u) => [u.externalId, u.subStatus])).toEqual([
      ['b', ''],
      ['a', 'pending'],
    ]);
  });

  it('keeps the latest state of each user in a batch', () => {
    const change = (u: User) => ({ deliveryId: 0, outcome: 'accepted' as const, externalId: u.externalId, user: u });
    const latest = latestUsers([change(user('a', 'OPEN', 1)), change(user('b', 'OPEN', 1)), change(user('a', 'ON_HOLD', 2))]);
    expect(latest.map((u) => [u.externalId, u.status])).toEqual([
      ['a', 'ON_HOLD'],
      ['b', 'OPEN'],
    ]);
  });

  it('keeps a column to its page size through a burst, with more beyond', () => {
    const burst = Array.from({ length: 3000 }, (_, n) => user(`u${n}`, 'OPEN', n));
    const board = applyUsers(emptyBoard(), burst, following);
    expect(board.OPEN.users).toHaveLength(PAGE_SIZE);
    expect(board.OPEN.users[0]?.externalId).toBe('u2999');
    expect(board.OPEN.more).toBe(true);
    expect(cursorAfter(board.OPEN)).toEqual({ afterSince: 2950, afterId: 'u2950' });
  });

  it('leaves a user who sorts beyond the last card of a partly loaded column to "Show more"', () => {
    const page = firstPage(
      Array.from({ length: PAGE_SIZE }, (_, n) => user(`u${n}`, 'OPEN', 1000 - n)),
      true,
    );
    const board = applyUsers({ ...emptyBoard(), OPEN: page }, [user('old', 'OPEN', 5)], following);
    expect(ids(board.OPEN.users)).not.toContain('old');
    expect(board.OPEN.users).toHaveLength(PAGE_SIZE);
  });

  it('asks for a refill when cards leave a column that has more', () => {
    const page = firstPage(
      Array.from({ length: PAGE_SIZE }, (_, n) => user(`u${n}`, 'OPEN', 1000 - n)),
      true,
    );
    const board = applyUsers({ ...emptyBoard(), OPEN: page }, [user('u3', 'CLOSED', 2000)], following);
    expect(needsRefill(board.OPEN)).toBe(true);
    const refilled = appendPage(board.OPEN, [user('u50', 'OPEN', 950)], true, board.OPEN.limit);
    expect(refilled.users).toHaveLength(PAGE_SIZE);
    expect(refilled.users.at(-1)?.externalId).toBe('u50');
    expect(needsRefill(refilled)).toBe(false);
  });

  it('holds a scrolled column still and counts who entered it', () => {
    let board = applyUsers(emptyBoard(), [user('a', 'OPEN', 1), user('b', 'OPEN', 2)], following);
    const away = (key: string) => key !== 'OPEN';
    board = applyUsers(board, [user('c', 'OPEN', 3), user('d', 'OPEN', 4), { ...user('a', 'OPEN', 1), subStatus: 'x' }, user('b', 'CLOSED', 5)], away);
    expect(board.OPEN.users.map((u) => [u.externalId, u.subStatus])).toEqual([['a', 'x']]);
    expect(board.OPEN.unseen).toBe(2);
    expect(ids(board.CLOSED.users)).toEqual(['b']);
    // Back at the top, it still waits for "N new" to be asked for, so it never shows half of them.
    board = applyUsers(board, [user('e', 'OPEN', 6)], following);
    expect(ids(board.OPEN.users)).toEqual(['a']);
    expect(board.OPEN.unseen).toBe(3);
  });

  it('adds a page for "Show more" without repeating cards', () => {
    const page = firstPage([user('a', 'OPEN', 3), user('b', 'OPEN', 2)], true);
    const more = appendPage(page, [user('b', 'OPEN', 2), user('c', 'OPEN', 1)], false);
    expect(ids(more.users)).toEqual(['a', 'b', 'c']);
    expect([more.limit, more.more]).toEqual([2 * PAGE_SIZE, false]);
  });

  it('keeps unknown statuses together in the other column, newest first', () => {
    let board = applyUsers(emptyBoard(), [user('a', 'FROZEN', 1)], following);
    board = applyUsers(board, [user('a', 'THAWED', 2)], following);
    expect(board.OTHER.users.map((u) => u.status)).toEqual(['THAWED']);
    expect(ids(mergeNewestFirst([[user('x', 'A', 5), user('y', 'A', 1)], [user('z', 'B', 3)]]))).toEqual(['x', 'z', 'y']);
  });

  it('orders as the monitor does: by statusSince, then externalId by code unit', () => {
    expect(ids([user('b', 'OPEN', 1), user('B', 'OPEN', 1), user('a', 'OPEN', 2)].sort(boardOrder))).toEqual(['a', 'B', 'b']);
  });
});
