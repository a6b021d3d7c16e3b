import { describe, expect, it } from 'vitest';
import { idsToWatch } from './watch';

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
});
