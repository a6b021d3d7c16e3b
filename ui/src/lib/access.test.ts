import { describe, expect, it } from 'vitest';
import { allowed, tokenHidden, viewAllowed } from './access';

describe('what a role is shown', () => {
  it('follows each operation\'s least role', () => {
    expect(allowed('viewer', 'board')).toBe(true);
    expect(allowed('viewer', 'search')).toBe(false);
    expect(allowed('support', 'user')).toBe(true);
    expect(allowed('support', 'review_csv')).toBe(false);
    expect(allowed('compliance', 'replay')).toBe(true);
    expect(allowed('compliance', 'audit_log')).toBe(false);
    expect(allowed('admin', 'end_sessions')).toBe(true);
  });

  it('shows a viewer the board and the stats only', () => {
    const views = ['board', 'stats', 'review', 'deliveries', 'register', 'settings', 'audit', 'user'] as const;
    expect(views.filter((view) => viewAllowed('viewer', view))).toEqual(['board', 'stats']);
    expect(views.filter((view) => viewAllowed('support', view))).toEqual(['board', 'stats', 'user']);
    expect(views.filter((view) => viewAllowed('compliance', view))).toEqual(['board', 'stats', 'review', 'deliveries', 'user']);
    expect(views.filter((view) => viewAllowed('admin', view))).toEqual([...views]);
  });
});

describe('tokenHidden', () => {
  it('tells a webhook URL whose secret part the monitor hid', () => {
    expect(tokenHidden('https://kyc.example.com/kyc-webhook/****')).toBe(true);
    expect(tokenHidden('http://127.0.0.1:8787/kyc-webhook/3f9a0c1d2e')).toBe(false);
    // A token that merely starts with stars, or a URL without the path, is not hidden.
    expect(tokenHidden('https://kyc.example.com/kyc-webhook/****abcd')).toBe(false);
    expect(tokenHidden('https://kyc.example.com/')).toBe(false);
  });
});
