// The board's cards: columns of users, the latest to enter a status first (the monitor's
// order: statusSince descending, then externalId). A column holds what it shows and no more:
// its first `limit` users. Counts are not kept here: they come exact from the monitor's
// counters (countsByColumn). Pure functions, tested in board.test.ts.
import { columnOf, STATUS_COLUMNS, OTHER_COLUMN, type ColumnKey } from './format';
import type { Change, PageCursor, StatusCount, User } from './types';

/** Cards a column loads at a time, and shows until "Show more". */
export const PAGE_SIZE = 50;

export interface Column {
  /** The cards shown, in the monitor's order; never more than `limit`. */
  users: User[];
  limit: number;
  /** Users beyond the last card exist (loaded with "Show more"). */
  more: boolean;
  /** Users who entered the column while it was scrolled away from its top: not shown until
   * asked for (the "N new" pill), so the cards being read do not move. */
  unseen: number;
}

export type Board = Record<ColumnKey, Column>;

export const COLUMN_KEYS: ColumnKey[] = [...STATUS_COLUMNS, OTHER_COLUMN];

export function emptyColumn(): Column {
  return { users: [], limit: PAGE_SIZE, more: false, unseen: 0 };
}

export function emptyBoard(): Board {
  return Object.fromEntries(COLUMN_KEYS.map((key) => [key, emptyColumn()])) as unknown as Board;
}

/** Exact counts per column from the monitor's per-status counters. */
export function countsByColumn(counts: StatusCount[]): Record<ColumnKey, number> {
  const totals = Object.fromEntries(COLUMN_KEYS.map((key) => [key, 0])) as Record<ColumnKey, number>;
  for (const count of counts) totals[columnOf(count.status)] += count.users;
  return totals;
}

/** The monitor's board order: the latest to enter the status first, then by externalId (as
 * SQLite compares text: code units, not the locale). */
export function boardOrder(a: User, b: User): number {
  return b.statusSince - a.statusSince || (a.externalId < b.externalId ? -1 : a.externalId > b.externalId ? 1 : 0);
}

/** Where "Show more" continues: after the last card shown. */
export function cursorAfter(column: Column): PageCursor | null {
  const last = column.users.at(-1);
  return column.more && last ? { afterSince: last.statusSince, afterId: last.externalId } : null;
}

/** The latest state of each user a batch of changes names (the feed is in commit order). */
export function latestUsers(changes: Change[]): User[] {
  const latest = new Map<string, User>();
  for (const change of changes) if (change.user) latest.set(change.user.externalId, change.user);
  return [...latest.values()];
}

/**
 * The board after `users` changed. A column that `follows` (shown from its top) takes them in
 * order and keeps its first `limit` cards; one scrolled away keeps its cards in place, refreshes
 * those that stay, drops those that left, and counts those that entered as `unseen`. One that
 * `holds` (under the pointer or the focus) also keeps the cards that left, where they are, so
 * nothing moves under the pointer; it is laid out anew when released.
 */
export function applyUsers(
  board: Board,
  users: User[],
  follows: (key: ColumnKey) => boolean,
  only: readonly ColumnKey[] = COLUMN_KEYS,
  holds: (key: ColumnKey) => boolean = () => false,
): Board {
  if (users.length === 0) return board;
  const changed = new Map(users.map((user) => [user.externalId, user]));
  const next = { ...board };
  for (const key of only) {
    const column = board[key];
    const entering = users.filter((user) => columnOf(user.status) === key);
    const touched = entering.length > 0 || column.users.some((user) => changed.has(user.externalId));
    if (!touched) continue;
    if (follows(key) && column.unseen === 0) {
      const staying = column.users.filter((user) => !changed.has(user.externalId));
      const merged = [...staying, ...entering].sort(boardOrder);
      // A user who sorts after the last card of a column with more beyond it is somewhere in
      // the part not loaded; "Show more" finds it there.
      const last = staying.at(-1);
      const shown = merged.filter((user) => !column.more || !last || boardOrder(user, last) <= 0 || !changed.has(user.externalId));
      next[key] = {
        ...column,
        users: shown.slice(0, column.limit),
        more: column.more || shown.length > column.limit,
      };
    } else {
      const shownIds = new Set(column.users.map((user) => user.externalId));
      const users = column.users.flatMap((user) => {
        const now = changed.get(user.externalId);
        if (!now) return [user];
        return columnOf(now.status) === key ? [now] : holds(key) ? [user] : [];
      });
      next[key] = { ...column, users, unseen: column.unseen + entering.filter((user) => !shownIds.has(user.externalId)).length };
    }
  }
  return next;
}

/** Cards left a column that has more beyond them: it shows fewer than it should. */
export function needsRefill(column: Column): boolean {
  return column.more && column.users.length < column.limit;
}

/** A column's first page, as loaded from the monitor. */
export function firstPage(users: User[], more: boolean): Column {
  return { users: users.slice(0, PAGE_SIZE), limit: PAGE_SIZE, more: more || users.length > PAGE_SIZE, unseen: 0 };
}

/** A column with the users after its last card appended (cards already shown are not
 * repeated), up to `limit`: one page more for "Show more", the same limit for a refill. */
export function appendPage(column: Column, users: User[], more: boolean, limit = column.limit + PAGE_SIZE): Column {
  const known = new Set(column.users.map((user) => user.externalId));
  const all = [...column.users, ...users.filter((user) => !known.has(user.externalId))];
  return { ...column, users: all.slice(0, limit), limit, more: more || all.length > limit };
}

/** Cards of several statuses in one column (the "other" column), the latest first. */
export function mergeNewestFirst(pages: User[][]): User[] {
  return pages.flat().sort(boardOrder);
}
