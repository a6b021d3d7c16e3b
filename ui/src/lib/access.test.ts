import { describe, expect, it } from 'vitest';
import { allowed, viewAllowed } from './access';

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
