import { describe, expect, it } from 'vitest';
import { filterParams, filterQuery, isFiltered, NO_FILTER, parseFilter } from './filters';

describe('filters', () => {
  it('round-trips through the address, "no decision" included', () => {
    for (const filter of [
      NO_FILTER,
      { decision: 'REVIEW', subStatus: 'Manual Review', minAgeMinutes: 60 },
      { decision: '', subStatus: '', minAgeMinutes: 0 },
      { status: 'ON_HOLD', subStatus: 'a&b=c?#', minAgeMinutes: 1440 },
      { subStatus: '', minAgeMinutes: 0, sort: 'id' as const },
      { subStatus: '', minAgeMinutes: 0, assigned: 'mine' as const },
      { subStatus: '', minAgeMinutes: 0, assigned: 'unassigned' as const },
    ]) {
      expect(parseFilter(new URLSearchParams(filterParams(filter)))).toEqual(filter);
    }
    expect(filterParams({ decision: '', subStatus: '', minAgeMinutes: 0 })).toBe('decision=');
  });

  it('reads a mangled address as no filter', () => {
    expect(parseFilter(new URLSearchParams('minAge=-5&other=1'))).toEqual(NO_FILTER);
    expect(parseFilter(new URLSearchParams('minAge=abc'))).toEqual(NO_FILTER);
    expect(parseFilter(new URLSearchParams('sort=sideways'))).toEqual(NO_FILTER);
    expect(parseFilter(new URLSearchParams('assigned=everyone'))).toEqual(NO_FILTER);
    expect(isFiltered({ ...NO_FILTER, assigned: 'mine' })).toBe(true);
  });

  it('tells a filter from none', () => {
    expect(isFiltered(NO_FILTER)).toBe(false);
    expect(isFiltered({ ...NO_FILTER, subStatus: '  ' })).toBe(false);
    expect(isFiltered({ ...NO_FILTER, decision: '' })).toBe(true);
    expect(isFiltered({ ...NO_FILTER, minAgeMinutes: 60 })).toBe(true);
  });

  it('asks the monitor for what the filter says', () => {
    expect(filterQuery({ decision: '', subStatus: ' x ', minAgeMinutes: 0 }, { afterSince: 5, afterId: 'u' }, 50)).toEqual({
      status: null,
      decision: '',
      subStatus: 'x',
      minAgeMinutes: null,
      sort: null,
      assigned: null,
      afterSince: 5,
      afterId: 'u',
      limit: 50,
    });
  });
});
