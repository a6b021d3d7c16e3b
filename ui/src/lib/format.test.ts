import { describe, expect, it } from 'vitest';
import { columnOf, decisionTone, duration, exactDuration, idPieces, percent, prettyBody, relativeTime, textPieces, tunnelLabel, visibleId, visibleText } from './format';

describe('format', () => {
  it('tells waits apart to the second', () => {
    expect(exactDuration(727_400)).toBe('00:12:07');
    expect(exactDuration(((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000)).toBe('2 d 03:04:05');
    expect(exactDuration(-5)).toBe('00:00:00');
  });

  it('puts undocumented statuses in the other column', () => {
    expect(columnOf('ON_HOLD')).toBe('ON_HOLD');
    expect(columnOf('KYC_STATUS_RESUBMIT')).toBe('OTHER');
    expect(columnOf('')).toBe('OTHER');
  });

  it('gives each decision its tone, unknown ones their own', () => {
    expect(['ACCEPT', 'REJECT', 'REVIEW', '', 'ESCALATE'].map(decisionTone)).toEqual([
      'accept',
      'reject',
      'review',
      'none',
      'unknown',
    ]);
  });

  it('says how long ago in words', () => {
    const now = 1_000_000_000;
    expect(relativeTime(now - 3_000, now)).toBe('just now');
    expect(relativeTime(now - 42_000, now)).toBe('42 s ago');
    expect(relativeTime(now - 4 * 60_000, now)).toBe('4 min ago');
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe('3 d ago');
    expect(relativeTime(now + 5_000, now)).toBe('just now');
  });

  it('writes durations compactly', () => {
    expect(duration(45_000)).toBe('45 s');
    expect(duration(12 * 60_000)).toBe('12 min');
    expect(duration(3 * 3_600_000 + 5 * 60_000)).toBe('3 h 5 min');
    expect(duration(2 * 86_400_000 + 4 * 3_600_000)).toBe('2 d 4 h');
  });

  it('writes rates', () => {
    expect(percent(2 / 3)).toBe('66.7%');
    expect(percent(null)).toBe('—');
  });

  it('shows bodies pretty when they are JSON and as they are otherwise', () => {
    expect(prettyBody('{"a":1}', null)).toBe('{\n  "a": 1\n}');
    expect(prettyBody('not json', null)).toBe('not json');
    expect(prettyBody(null, 'wyg=')).toContain('base64');
    expect(prettyBody(null, null)).toContain('not kept');
  });
});

describe('tunnelLabel', () => {
  it('names the tunnel and its state', () => {
    expect(tunnelLabel({ kind: 'bore', status: { state: 'up', publicUrl: 'http://x' } })).toBe('bore up');
    expect(tunnelLabel({ kind: 'cloudflared', status: { state: 'reconnecting', attempt: 3, reason: 'gone' } })).toBe(
      'cloudflared reconnecting (3)',
    );
    expect(tunnelLabel({ kind: 'ngrok', status: { state: 'failed', reason: 'no token' } })).toBe('ngrok failed');
    expect(tunnelLabel({ kind: 'url', status: { state: 'connecting' } })).toBe('own URL connecting…');
  });
});

describe('idPieces', () => {
  it('spells out invisible characters, control characters and whitespace at the ends', () => {
    expect(idPieces('alice')).toEqual([{ text: 'alice', hidden: false }]);
    expect(idPieces('alice\t')).toEqual([
      { text: 'alice', hidden: false },
      { text: '\\t', hidden: true },
    ]);
    expect(visibleId(' a\u200db\u0000 c\ufeff ')).toBe('\\u0020a\\u200db\\u0000 c\\ufeff\\u0020');
    for (const char of ['\u200b', '\u200c', '\u200e', '\u200f', '\u061c', '\u2060', '\u202a', '\u202e', '\u2066', '\u2069', '\u001b', '\u007f', '\u0085']) {
      expect(visibleId(`x${char}y`)).toBe(`x\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}y`);
    }
    // Spaces inside an id are part of it, and ordinary text stays as it is.
    expect(idPieces('user 48 ü')).toEqual([{ text: 'user 48 ü', hidden: false }]);
    expect(visibleId('')).toBe('');
  });
});

describe('textPieces', () => {
  it('spells out the bidi controls that would make a note read otherwise', () => {
    // U+202E then "gnp.exe" displays as "exe.png" when left as it is.
    expect(textPieces('invoice\u202egnp.exe')).toEqual([
      { text: 'invoice', hidden: false },
      { text: '\\u202e', hidden: true },
      { text: 'gnp.exe', hidden: false },
    ]);
    for (const char of ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c', '\u0000', '\u001b', '\u007f', '\u0085']) {
      expect(visibleText(`a${char}b`)).toBe(`a\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}b`);
    }
  });

  it('keeps what a person typed: line breaks, tabs, spaces at the ends, right-to-left letters, emoji', () => {
    const typed = ' two lines\n\tand a tab \u05e9\u05dc\u05d5\u05dd 👩\u200d💻 ';
    expect(textPieces(typed)).toEqual([{ text: typed, hidden: false }]);
    expect(visibleText('')).toBe('');
    expect(textPieces('')).toEqual([]);
  });
});
