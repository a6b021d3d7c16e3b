import { describe, expect, it } from 'vitest';
import { toCsv } from './csv';

describe('csv', () => {
  it('quotes what needs it and neutralises formulas, as export does', () => {
    expect(toCsv(['a', 'b'], [['x,y', 'say "hi"'], ['=1+1', '@SUM(A1)'], ['-2', 3], ['line\nbreak', 'plain']])).toBe(
      'a,b\r\n"x,y","say ""hi"""\r\n\'=1+1,\'@SUM(A1)\r\n\'-2,3\r\n"line\nbreak",plain\r\n',
    );
  });
});
