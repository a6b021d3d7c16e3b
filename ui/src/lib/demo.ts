// The demo as the board shows it: the story above the columns counts the cards (not the
// emulator's planned endings), and the "changed" tint lights only the latest few changes.
// Pure functions, tested in demo.test.ts.
import type { Board } from './board';
import type { DemoSummary } from './types';

/** Cards tinted as just changed, at most: more would tint half a busy board. */
export const FRESH_AT_MOST = 5;

/** The cards lit as changed after a batch: the newest `FRESH_AT_MOST`, newest last. */
export function lightUp(lit: readonly string[], changed: readonly string[], atMost = FRESH_AT_MOST): string[] {
  const again = new Set(changed);
  return [...lit.filter((id) => !again.has(id)), ...changed].slice(-atMost);
}

/** Columns where a user who gave up stays (the demo marks them there). */
export const ABANDONED_COLUMNS = ['NOT_STARTED', 'OPEN'] as const;

export interface DemoTally {
  /** Users with a card on the board. */
  users: number;
  approved: number;
  rejected: number;
  /** On hold for review: the cards in ON_HOLD. */
  held: number;
  /** Cards marked abandoned: users the demo is done with who gave up. */
  abandoned: number;
}

/** What the demo's story tells: the board's cards while it holds them all; the emulator's own
 * counts once a column holds more than its loaded cards (thousands watched by hand beside the
 * demo), where counting cards would tell too few. */
export function story(tally: DemoTally, summary: DemoSummary, complete: boolean): DemoTally {
  if (complete) return tally;
  const { users, approved, rejected, held, abandoned } = summary;
  return { users, approved, rejected, held, abandoned };
}

/** What the board's cards of this run say now: those whose id starts with `prefix` (the board
 * may also hold an earlier run's users, or users watched by hand). */
export function tallyBoard(board: Board, abandoned: ReadonlySet<string>, prefix = ''): DemoTally {
  const ours = (users: Board[keyof Board]['users']) => users.filter((user) => user.externalId.startsWith(prefix));
  const all = Object.values(board).flatMap((column) => ours(column.users));
  const closed = ours(board.CLOSED.users);
  return {
    users: all.length,
    approved: closed.filter((user) => user.decision === 'ACCEPT').length,
    rejected: closed.filter((user) => user.decision === 'REJECT').length,
    held: ours(board.ON_HOLD.users).length,
    abandoned: ABANDONED_COLUMNS.flatMap((key) => ours(board[key].users)).filter((user) => abandoned.has(user.externalId)).length,
  };
}
