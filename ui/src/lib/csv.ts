// CSV for a spreadsheet, by the rule `kyc-monitor export` follows (src-tauri/src/export.rs
// csv_cell): a text cell a spreadsheet would run as a formula gets a leading '; cells are
// quoted when they hold a comma, a quote or a line break. Tested in csv.test.ts.
import type { User } from './types';

function cell(value: string | number): string {
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

/** The users listed, one row each, with the time they entered their status (ISO, UTC). */
export function usersCsv(users: User[]): string {
  return toCsv(
    ['externalId', 'status', 'decision', 'subStatus', 'statusSince', 'firstSeenAt', 'participantId', 'account'],
    users.map((u) => [
      u.externalId,
      u.status,
      u.decision,
      u.subStatus,
      new Date(u.statusSince).toISOString(),
      new Date(u.firstSeenAt).toISOString(),
      u.participantId,
      u.account,
    ]),
  );
}
