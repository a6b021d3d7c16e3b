// The board's cards: columns of users, the latest to enter a status first. Counts are not kept
// here: they come exact from the monitor's counters (countsByColumn). Pure functions, tested in
// board.test.ts.
import { columnOf, STATUS_COLUMNS, OTHER_COLUMN, type ColumnKey } from './format';
import type { StatusCount, User } from './types';

export type Board = Record<ColumnKey, User[]>;

export const COLUMN_KEYS: ColumnKey[] = [...STATUS_COLUMNS, OTHER_COLUMN];

export function emptyBoard(): Board {
  return Object.fromEntries(COLUMN_KEYS.map((key) => [key, []])) as unknown as Board;
}

/** Exact counts per column from the monitor's per-status counters. */
export function countsByColumn(counts: StatusCount[]): Record<ColumnKey, number> {
  const totals = Object.fromEntries(COLUMN_KEYS.map((key) => [key, 0])) as Record<ColumnKey, number>;
  for (const count of counts) totals[columnOf(count.status)] += count.users;
  return totals;
}

/** The board after `user` changed: out of whatever column held it, first in its column now. */
export function moveUser(board: Board, user: User): Board {
  const next = {} as Board;
  for (const key of COLUMN_KEYS) next[key] = board[key].filter((u) => u.externalId !== user.externalId);
  const target = columnOf(user.status);
  next[target] = [user, ...next[target]];
  return next;
}

/** Cards of several statuses in one column (the "other" column), the latest first. */
export function mergeNewestFirst(pages: User[][]): User[] {
  return pages.flat().sort((a, b) => b.statusSince - a.statusSince || a.externalId.localeCompare(b.externalId));
}
