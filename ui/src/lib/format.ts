// How values read on screen. Pure functions, tested in format.test.ts.

import { KNOWN_STATUSES, OTHER_STATUS_LABEL, STATUS_LABELS, type Tunnel } from './types';

export const STATUS_COLUMNS = KNOWN_STATUSES;
export const OTHER_COLUMN = 'OTHER';
export type ColumnKey = (typeof STATUS_COLUMNS)[number] | typeof OTHER_COLUMN;

/** The board column a status belongs to: its own, or "other" for values the docs do not list. */
export function columnOf(status: string): ColumnKey {
  return (STATUS_COLUMNS as readonly string[]).includes(status) ? (status as ColumnKey) : OTHER_COLUMN;
}

/** The labels come from the monitor (kyc.rs), as the tray's do. */
export const COLUMN_TITLES: Record<ColumnKey, string> = { ...STATUS_LABELS, [OTHER_COLUMN]: OTHER_STATUS_LABEL };

export type Tone = 'accept' | 'reject' | 'review' | 'none' | 'unknown';

/** Decisions carry one colour everywhere: ACCEPT green, REJECT red, REVIEW amber, none grey,
 * anything else outlined. */
export function decisionTone(decision: string): Tone {
  switch (decision) {
    case 'ACCEPT':
      return 'accept';
    case 'REJECT':
      return 'reject';
    case 'REVIEW':
      return 'review';
    case '':
      return 'none';
    default:
      return 'unknown';
  }
}

export function decisionLabel(decision: string): string {
  return decision === '' ? 'No decision' : decision;
}

/** "just now", "4 min ago", "3 h ago", "2 d ago". */
export function relativeTime(then: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** A span, for "time in status": "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** A wait to the second, so that two rows that say "12 min" are told apart: `00:12:07`,
 * `2 d 03:04:05`. */
export function exactDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  const clock = `${pad(Math.floor(seconds / 3600) % 24)}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
  const days = Math.floor(seconds / 86_400);
  return days > 0 ? `${days} d ${clock}` : clock;
}

/** The exact local time, with milliseconds, for hovers and timelines. */
export function exactTime(ms: number): string {
  const date = new Date(ms);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
  );
}

/** The local time of day to the second, `05:49:26`, for what happens today (the next poll). */
export function clockTime(ms: number): string {
  return exactTime(ms).slice(11, 19);
}

/** A raw body shown as text: pretty JSON when it parses, verbatim otherwise. */
export function prettyBody(body: string | null, bodyBase64: string | null): string {
  if (body === null) return bodyBase64 === null ? '(body not kept: over the size limit)' : `(not UTF-8, base64) ${bodyBase64}`;
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** "66.7%", or an em dash when there is nothing to divide. */
export function percent(rate: number | null): string {
  return rate === null ? '—' : `${(rate * 100).toFixed(1)}%`;
}

const TUNNEL_NAMES: Record<string, string> = { ngrok: 'ngrok', cloudflared: 'cloudflared', bore: 'bore', url: 'own URL' };

/** A short label for the tunnel's state, for the top bar (the reason goes in the tooltip). */
export function tunnelLabel(tunnel: Tunnel): string {
  const name = TUNNEL_NAMES[tunnel.kind] ?? tunnel.kind;
  switch (tunnel.status.state) {
    case 'up':
      return `${name} up`;
    case 'connecting':
      return `${name} connecting…`;
    case 'reconnecting':
      return `${name} reconnecting (${tunnel.status.attempt})`;
    case 'failed':
      return `${name} failed`;
    default:
      return `${name} off`;
  }
}

/** One piece of an id as shown: its text, or an invisible character spelled out. */
export interface IdPiece {
  text: string;
  /** The character was invisible (or whitespace at an end): `text` is its escape, `\u200d`. */
  hidden: boolean;
}

const ALWAYS_HIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069]/u;

/** What free text (a note, a name, an audit entry's target) shows spelled out: the bidi
 * controls that reorder what follows them (`gnp.exe` after U+202E reads "exe.png"), and the
 * control characters other than tab and line breaks. Zero-width joiners stay (emoji use them). */
const SPOOFING = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

function escapeChar(char: string): string {
  if (char === '\t') return '\\t';
  if (char === '\n') return '\\n';
  if (char === '\r') return '\\r';
  return `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`;
}

/** An id in pieces, its invisible characters (zero-width, bidi controls, NUL and other control
 * characters, whitespace at either end) spelled out, so that `alice` and `alice\t` never look
 * the same. Everything that shows an id uses it. */
export function idPieces(id: string): IdPiece[] {
  const chars = [...id];
  const lead = chars.findIndex((char) => !/\s/u.test(char));
  const start = lead < 0 ? chars.length : lead;
  let end = chars.length;
  while (end > start && /\s/u.test(chars[end - 1] ?? '')) end -= 1;
  const pieces: IdPiece[] = [];
  chars.forEach((char, index) => {
    const hidden = index < start || index >= end || ALWAYS_HIDDEN.test(char);
    const text = hidden ? escapeChar(char) : char;
    const last = pieces.at(-1);
    if (last && !hidden && !last.hidden) last.text += text;
    else pieces.push({ text, hidden });
  });
  return pieces;
}

/** The id as plain text with its invisible characters spelled out (for a ticket, a title). */
export function visibleId(id: string): string {
  return idPieces(id)
    .map((piece) => piece.text)
    .join('');
}

/** Person-typed or request-supplied free text in pieces, its bidi controls (U+202A–U+202E,
 * U+2066–U+2069, U+200E, U+200F, U+061C) and control characters spelled out, so that none of
 * it can make the text read otherwise than it is. Line breaks, tabs and spaces stay as typed.
 * Everything that shows such text uses it (FreeText.svelte). */
export function textPieces(text: string): IdPiece[] {
  const pieces: IdPiece[] = [];
  for (const char of text) {
    const hidden = SPOOFING.test(char);
    const shown = hidden ? escapeChar(char) : char;
    const last = pieces.at(-1);
    if (last && !hidden && !last.hidden) last.text += shown;
    else pieces.push({ text: shown, hidden });
  }
  return pieces;
}

/** Free text as plain text with its bidi and control characters spelled out (for a title). */
export function visibleText(text: string): string {
  return textPieces(text)
    .map((piece) => piece.text)
    .join('');
}

/** An id as search compares it (store/search.rs does the same): lower case, each run of `-`,
 * `_`, `.` or whitespace one `_`. */
export function foldedId(text: string): string {
  return text.toLowerCase().replace(/[-_.\s]+/gu, '_');
}
