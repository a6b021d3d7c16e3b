import { describe, expect, it } from 'vitest';
import { SHOWN_QUERY, needle, shownQuery } from './search';

describe('the search box', () => {
  it('ignores whitespace around a query: only spaces is no query', () => {
    expect(needle('   ')).toBe('');
    expect(needle('\t \n')).toBe('');
    expect(needle('  user_1 ')).toBe('user_1');
    expect(needle('a b')).toBe('a b');
  });

  it('shortens a long query where it repeats it, never cutting a character in two', () => {
    expect(shownQuery('user_1')).toBe('user_1');
    const long = 'x'.repeat(5_000);
    expect(shownQuery(long)).toBe(`${'x'.repeat(SHOWN_QUERY)}…`);
    expect(shownQuery('😀'.repeat(61))).toBe(`${'😀'.repeat(60)}…`);
  });
});
