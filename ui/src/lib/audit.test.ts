import { describe, expect, it } from 'vitest';
import { actionWords, auditQuery, emptyAuditForm, localTimeToMillis } from './audit';

describe('the Audit view filters', () => {
  it('filters nothing when the form is empty', () => {
    expect(auditQuery(emptyAuditForm(), null, 100)).toEqual({
      actor: null,
      action: null,
      target: null,
      since: null,
      until: null,
      before: null,
      limit: 100,
    });
  });

  it('takes local times and keeps the whole last minute', () => {
    const from = '2026-11-26T10:00';
    const query = auditQuery({ ...emptyAuditForm(), actor: ' local ', from, to: from }, 42, 10);
    expect(query.actor).toBe('local');
    expect(query.since).toBe(new Date(from).getTime());
    expect(query.until).toBe(new Date(from).getTime() + 60_000);
    expect(query.before).toBe(42);
  });

  it('ignores what is not a time', () => {
    expect(localTimeToMillis('')).toBeNull();
    expect(localTimeToMillis('soon')).toBeNull();
  });

  it('reads an action as words', () => {
    expect(actionWords('user-viewed')).toBe('user viewed');
  });
});
