import { describe, expect, it } from 'vitest';
import { ticketText } from './ticket';
import type { TimelineEntry, User } from './types';

const user: User = {
  externalId: 'alice\t',
  firstSeenAt: Date.UTC(2026, 10, 29, 10, 0, 0, 123),
  lastSeenAt: Date.UTC(2026, 10, 29, 10, 5, 0, 0),
  statusSince: Date.UTC(2026, 10, 29, 10, 5, 0, 0),
  eventCount: 2,
  knownStatus: true,
  knownDecision: true,
  rejectionReason: null,
  statusSetAt: null,
  decision: 'REVIEW',
  status: 'ON_HOLD',
  subStatus: 'Manual check',
  participantId: '',
  account: '',
};
const entry = (deliveryId: number, receivedAt: number, status: string, extra: Partial<TimelineEntry> = {}): TimelineEntry => ({
  deliveryId,
  receivedAt,
  eventId: null,
  duplicate: false,
  polled: false,
  watched: false,
  replayOf: null,
  edited: false,
  rejectionReason: null,
  statusSetAt: null,
  dateOfBirth: null,
  headers: [],
  withheld: false,
  decision: '',
  status,
  subStatus: '',
  participantId: '',
  account: '',
  body: null,
  bodyBase64: null,
  ...extra,
});

describe('ticketText', () => {
  it('writes the state, ids and timeline as plain text with UTC times, invisible characters spelled out', () => {
    const text = ticketText({
      user,
      case: { externalId: user.externalId, version: 0, assignee: null, marker: null, updatedBy: null, updatedAt: null, lastAction: null, inQueue: false, clockMs: null, dueAt: null, overSla: false, notes: [], notesWithheld: false },
      timeline: [entry(1, user.firstSeenAt, 'OPEN'), entry(7, user.lastSeenAt, 'ON_HOLD', { decision: 'REVIEW', replayOf: 3, edited: true })],
    });
    expect(text).toBe(
      [
        'KYC Monitor: user alice\\t',
        'externalId: alice\\t',
        'status: ON_HOLD since 2026-11-29T10:05:00.000Z',
        'decision: REVIEW',
        'subStatus: Manual check',
        'participantId: (none)',
        'account: (none)',
        'first seen: 2026-11-29T10:00:00.123Z',
        'last seen: 2026-11-29T10:05:00.000Z',
        'timeline (2 notifications, oldest first, times in UTC):',
        '- 2026-11-29T10:00:00.123Z delivery #1: status OPEN, decision (none)',
        '- 2026-11-29T10:05:00.000Z delivery #7: status ON_HOLD, decision REVIEW (edited replay of delivery #3)',
        '',
      ].join('\n'),
    );
  });

  it('adds the rejection reason and the provider\'s time, never the date of birth', () => {
    const set = Date.UTC(2026, 10, 29, 10, 4, 59, 902);
    const rejected = { ...user, status: 'CLOSED', decision: 'REJECT', rejectionReason: 'document expired', statusSetAt: set };
    const text = ticketText({
      user: rejected,
      case: { externalId: user.externalId, version: 0, assignee: null, marker: null, updatedBy: null, updatedAt: null, lastAction: null, inQueue: false, clockMs: null, dueAt: null, overSla: false, notes: [], notesWithheld: false },
      timeline: [entry(9, Date.UTC(2026, 10, 29, 10, 5), 'CLOSED', { decision: 'REJECT', rejectionReason: 'document expired', statusSetAt: set, dateOfBirth: '1961-07-04' })],
    });
    expect(text).toContain('status set by the provider: 2026-11-29T10:04:59.902Z\n');
    expect(text).toContain('rejection reason: document expired\n');
    expect(text).toContain('rejection reason document expired, set by the provider at 2026-11-29T10:04:59.902Z');
    expect(text).not.toContain('1961');
  });
});
