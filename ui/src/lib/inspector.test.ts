import { describe, expect, it } from 'vitest';
import { bodyText, curlCommand, deliverySource, explainOutcome, flatPayloadState, forwardSummary, POLLED_TITLE, replayText, replayWouldChange, shellQuote, WATCHED_TITLE, whenDue } from './inspector';
import type { Delivery, ForwardState } from './types';

const delivery: Delivery = {
  id: 7,
  receivedAt: 0,
  remoteAddr: '127.0.0.1:5000',
  method: 'POST',
  outcome: 'accepted',
  httpStatus: 200,
  error: null,
  webhookId: null,
  bodySize: 30,
  headers: [['Content-Type', 'application/json; charset=utf-8']],
  body: `{"externalId":"o'brien"}`,
  bodyBase64: null,
  replayOf: null,
  edited: false,
  polled: false,
  watched: false,
  externalId: "o'brien",
  status: 'OPEN',
  decision: '',
};

describe('the inspector', () => {
  it('says a polled delivery was asked by the poll or by reconcile, and a watched one added by your side', () => {
    // A polled delivery does not record which of the two asked: both are named, never one.
    expect(POLLED_TITLE).toMatch(/status route \(the periodic poll, --poll-every, or reconcile\)/);
    expect(WATCHED_TITLE).toMatch(/^added by watching: .*not by the provider$/);
    const polled = { ...delivery, polled: true, method: 'GET', remoteAddr: 'https://api.example' };
    expect(deliverySource(polled)).toMatch(/^Learned by polling: .*GET https:\/\/api\.example\/v1\/kyc\/status\), by the periodic poll \(--poll-every\) or by reconcile/);
    expect(deliverySource({ ...delivery, watched: true })).toMatch(/^Added by watching: not from the provider\..*NOT_STARTED/);
    expect(deliverySource(delivery)).toBeNull();
  });

  it('explains a duplicate replay in words', () => {
    expect(explainOutcome('duplicate', 200, null)).toMatch(/^duplicate: the user's latest state is the same.*nothing moved/);
    expect(replayText({ deliveryId: 9, outcome: 'duplicate', httpStatus: 200, error: null, replayOf: 7, externalId: 'user_7' }, false)).toMatch(
      /^Replayed as #9: duplicate \(200\)\. Duplicate: /,
    );
    expect(explainOutcome('rejected', 422, 'externalId is null')).toContain('refused with 422: externalId is null');
    expect(explainOutcome('rejected', 422, 'externalId is null', true)).not.toContain('externalId is null');
  });

  it('quotes bodies for the shell and keeps the content type', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(curlCommand('http://127.0.0.1:8080/kyc-webhook', delivery)).toBe(
      `curl -sS -X POST 'http://127.0.0.1:8080/kyc-webhook' -H 'content-type: application/json; charset=utf-8' --data-raw '{"externalId":"o'\\''brien"}'`,
    );
  });

  it('shows bytes as received unless asked to pretty-print', () => {
    expect(bodyText(delivery, false)).toBe(delivery.body);
    expect(bodyText(delivery, true)).toBe(`{\n  "externalId": "o'brien"\n}`);
    expect(bodyText({ body: 'not json', bodyBase64: null }, true)).toBe('not json');
  });

  it('sums up a forward', () => {
    const forward: ForwardState = {
      destinationId: 1,
      url: 'http://backend',
      paused: false,
      state: 'pending',
      attempts: 2,
      nextTryAt: 5,
      lastAttemptAt: 1,
      lastStatus: 503,
      lastError: 'the backend answered 503',
    };
    expect(forwardSummary(forward, () => 'in 4s')).toBe('retrying (503) after 2 attempts; next try in 4s');
    expect(forwardSummary({ ...forward, paused: true }, String)).toMatch(/paused/);
    expect(whenDue(5_000, 1_000)).toBe(`in ${'4 s'}`);
    expect(whenDue(1_000, 5_000)).toBe('due now');
    expect(forwardSummary({ ...forward, state: 'delivered', lastStatus: 200, attempts: 1 }, String)).toBe('delivered (200) after 1 attempt');
  });
});

describe('replay safety', () => {
  const held = { status: 'ON_HOLD', decision: 'REVIEW', subStatus: 'Document Request Initiated' };
  const open = { status: 'OPEN', decision: '', subStatus: '' };
  it('asks before an older delivery moves its user back', () => {
    expect(replayWouldChange(3, open, held, 7)).toEqual({ before: 'ON_HOLD · REVIEW · Document Request Initiated', after: 'OPEN · (no decision)' });
  });
  it('does not ask when nothing would move, or the delivery is the latest', () => {
    expect(replayWouldChange(3, held, held, 7)).toBeNull();
    expect(replayWouldChange(7, open, held, 7)).toBeNull();
  });
  it('reads the documented form only', () => {
    expect(flatPayloadState('{"externalId":"u","status":"OPEN"}')).toEqual({ externalId: 'u', status: 'OPEN', decision: '', subStatus: '' });
    expect(flatPayloadState('{"event_type":"kyc.approved"}')).toBeNull();
    expect(flatPayloadState('not json')).toBeNull();
  });
});
