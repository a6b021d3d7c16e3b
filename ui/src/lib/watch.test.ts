import { describe, expect, it } from 'vitest';
import { idsToWatch, refusalAtLine, tooLong, utf8Text, watchList } from './watch';

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

  it('refuses columns none of which is externalId, rather than watching the header', () => {
    expect(watchList('user_id,name\nuid_1,Al\n')).toEqual({
      ids: [],
      lines: [],
      refusal: 'its first line has columns (user_id, name) but none is named externalId; name the column of ids externalId, or give one id a line',
    });
  });

  it("skips a spreadsheet's rows of empty cells, as it does empty lines", () => {
    expect(watchList('email,externalId\na@example.com,user_1\n,\n , \n')).toEqual({ ids: ['user_1'], lines: [2] });
  });

  it('knows the externalId header however it is spelt, in a one-column file too', () => {
    for (const header of ['ExternalID', 'external_id', 'External Id', ' externalId ']) {
      expect(idsToWatch(`${header}\nuser_1\n`)).toEqual(['user_1']);
    }
  });

  it('refuses a list with no id: nothing, or a header alone', () => {
    for (const text of ['', '\n \n', 'externalId\n']) {
      expect(watchList(text).refusal).toBe('it holds no id (nothing, or a header alone)');
    }
  });
});

describe('tooLong', () => {
  it('refuses in a browser a list over what one request takes, saying what to do instead', () => {
    const ids = Array.from({ length: 60_000 }, (_, n) => `partner-user-${String(n).padStart(6, '0')}`);
    expect(tooLong(ids.slice(0, 30_000), true)).toBeNull();
    expect(tooLong(ids, true)).toMatch(/^60,000 ids are more than one import takes \(1\.\d MiB of the 1 MiB a request may be\): import them in parts, or run kyc-monitor watch --from-csv FILE/);
    // The desktop window's commands have no such limit.
    expect(tooLong(ids, false)).toBeNull();
  });
});

describe('utf8Text', () => {
  it('reads UTF-8 and refuses Latin-1, naming the file', () => {
    expect(utf8Text(new TextEncoder().encode('ui_café\n').buffer, 'a.csv')).toEqual({ text: 'ui_café\n' });
    const latin1 = new Uint8Array([0x75, 0x69, 0x5f, 0x63, 0x61, 0x66, 0xe9, 0x0a]).buffer;
    expect(utf8Text(latin1, 'b.csv')).toEqual({
      refusal: 'b.csv is not UTF-8 text: save it as UTF-8 (in a spreadsheet, "CSV UTF-8") and import it again. Nothing was watched.',
    });
  });
});
