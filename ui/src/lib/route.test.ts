import { describe, expect, it } from 'vitest';
import { NO_FILTER } from './filters';
import { boardHref, pageTitle, parseRoute, userHref } from './route';

describe('route', () => {
  it('round-trips any externalId through the address', () => {
    for (const id of ['user_1', 'a/b c?#%', '<img src=x onerror=alert(1)>', 'é✓']) {
      expect(parseRoute(userHref(id))).toEqual({ view: 'user', externalId: id });
    }
  });

  it('falls back to the board', () => {
    expect(parseRoute('')).toEqual({ view: 'board', filter: NO_FILTER });
    expect(parseRoute('#/nowhere')).toEqual({ view: 'board', filter: NO_FILTER });
    expect(parseRoute('#/review')).toEqual({ view: 'review', filter: { subStatus: '', minAgeMinutes: 0 } });
    expect(parseRoute('#/deliveries')).toEqual({ view: 'deliveries' });
    expect(parseRoute('#/stats')).toEqual({ view: 'stats' });
    expect(parseRoute('#/register')).toEqual({ view: 'register' });
    expect(parseRoute('#/settings')).toEqual({ view: 'settings' });
    expect(parseRoute('#/audit')).toEqual({ view: 'audit' });
  });

  it('keeps the board\'s filters in the address', () => {
    const filter = { decision: 'REVIEW', subStatus: 'Manual Review', minAgeMinutes: 60 };
    expect(boardHref(filter)).toBe('#/?decision=REVIEW&subStatus=Manual+Review&minAge=60');
    expect(parseRoute(boardHref(filter))).toEqual({ view: 'board', filter });
    expect(boardHref(NO_FILTER)).toBe('#/');
    expect(parseRoute('#/review?decision=REVIEW&subStatus=doc')).toEqual({ view: 'review', filter: { decision: 'REVIEW', subStatus: 'doc', minAgeMinutes: 0 } });
  });

  it('names the user, or the view, in the tab title', () => {
    expect(pageTitle(parseRoute(userHref('user_6630')))).toBe('user_6630 · KYC Monitor');
    expect(pageTitle(parseRoute('#/stats'))).toBe('Stats · KYC Monitor');
    expect(pageTitle(parseRoute(''))).toBe('Board · KYC Monitor');
  });

  it('has no route in a browser that only the desktop app can serve', () => {
    expect(parseRoute('#/settings')).toEqual({ view: 'settings' });
  });
});
