import { describe, expect, it } from 'vitest';
import { idsToWatch, refusalAtLine, watchList } from './watch';

describe('idsToWatch', () => {
  it('takes one id a line and skips empty lines', () => {
    expect(idsToWatch('user_1\n\n user_2 \r\n')).toEqual(['user_1', 'user_2']);
  });

  it('takes the externalId column of a CSV with a header', () => {
    expect(idsToWatch('email,externalId\n"a, b",user_1\nc,"user_2"\n')).toEqual(['user_1', 'user_2']);
  });

  it('keeps an empty id for the monitor to refuse', () => {
    expect(idsToWatch('email,externalId\nx,\n')).toEqual(['']);
  });

  it('names the line of the file a refused id is on', () => {
    const list = watchList('email,externalId\n\na@example.com,user_1\nb@example.com,\n');
    expect(list).toEqual({ ids: ['user_1', ''], lines: [3, 4] });
    const refusal = "externalIds[1]: an external id is empty; give each user's id as the provider knows it";
    expect(refusalAtLine(refusal, list.lines, 'users.csv')).toBe(
      "users.csv, line 4: an external id is empty; give each user's id as the provider knows it. Nothing was watched.",
    );
    expect(refusalAtLine('the monitor is read-only', list.lines, 'users.csv')).toBe('the monitor is read-only');
  });
});
