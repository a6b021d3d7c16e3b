// The deliveries inspector's words and commands: what a replay came to, a delivery as a curl
// command, where a forward stands. Kept apart from the components so that they are tested.
import { duration } from './format';
import type { Delivery, ForwardState, Outcome, ReplayAnswer } from './types';

/** When something scheduled is due: "in 4 s", "in 2 min", or "due now" once its time came. */
export function whenDue(at: number, now: number): string {
  return at <= now ? 'due now' : `in ${duration(at - now)}`;
}

/** A polled delivery's tag title: asked of the provider's status route, by whichever asks. A
 * polled delivery does not record whether the periodic poll or reconcile asked, so both are
 * named. */
export const POLLED_TITLE =
  "learned by asking the provider's status route (the periodic poll, --poll-every, or reconcile), not delivered by a webhook";
/** A watched user's NOT_STARTED: named by the partner's side, not by the provider. */
export const WATCHED_TITLE =
  'added by watching: named by your side as a user to watch (kyc-monitor watch, a CSV import, the Watch panel, or the demo), not by the provider';

/** Where a delivery came from when not from a webhook, in a sentence; null for a webhook's. */
export function deliverySource(delivery: Pick<Delivery, 'polled' | 'watched' | 'remoteAddr'>): string | null {
  if (delivery.polled) {
    return `Learned by polling: not delivered by a webhook. This monitor asked the provider's status route (GET ${delivery.remoteAddr}/v1/kyc/status), by the periodic poll (--poll-every) or by reconcile (the delivery does not record which), and recorded the state it answered because it was new.`;
  }
  if (delivery.watched) {
    return "Added by watching: not from the provider. Your side named this user as one to watch (kyc-monitor watch, a CSV import, the Watch panel, or the demo), so the monitor put it on the board at NOT_STARTED until the provider says more.";
  }
  return null;
}

/** A replay's outcome in words: what the monitor did with it, and why. */
export function explainOutcome(outcome: Outcome, httpStatus: number, error: string | null, reasonShown = false): string {
  switch (outcome) {
    case 'accepted':
      return "accepted: it moved the user's state, as a new delivery would.";
    case 'duplicate':
      return "duplicate: the user's latest state is the same (or its event_id was seen before), so nothing moved.";
    case 'ping':
      return 'ping: it names no user, so it counts as a validation request and changes nothing.';
    case 'rejected':
      // Where the reason is shown beside it (the inspector's detail), it is not said twice.
      if (reasonShown && error) return `refused with ${httpStatus} for the reason above (outcome rejected). It is kept, and no user changed.`;
      return `refused with ${httpStatus}: ${error ?? 'the listener refused it'}. It is kept, and no user changed.`;
  }
}

/** "Replayed as #12: duplicate (200)" and what that means. */
export function replayText(answer: ReplayAnswer, edited: boolean): string {
  const how = edited ? 'Edited and resent' : 'Replayed';
  return `${how} as #${answer.deliveryId}: ${answer.outcome} (${answer.httpStatus}). ${capitalise(
    explainOutcome(answer.outcome, answer.httpStatus, answer.error),
  )}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A POSIX shell word. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Headers a resend should carry: the content type only. Signatures would be stale (and are
 * checked against the timestamp), lengths and hosts are curl's to set. */
function contentType(delivery: Delivery): string {
  const found = delivery.headers.find(([name]) => name.toLowerCase() === 'content-type');
  return found ? found[1] : 'application/json';
}

/** The delivery as a curl command that posts the same body to `webhookUrl`. */
export function curlCommand(webhookUrl: string, delivery: Delivery, body: string | null = delivery.body): string {
  const parts = ['curl', '-sS', '-X', 'POST', shellQuote(webhookUrl), '-H', shellQuote(`content-type: ${contentType(delivery)}`)];
  if (body !== null) parts.push('--data-raw', shellQuote(body));
  return parts.join(' ');
}

/** The body as sent, or pretty-printed JSON when asked and possible. */
export function bodyText(delivery: Pick<Delivery, 'body' | 'bodyBase64'>, pretty: boolean): string {
  if (delivery.body === null) {
    return delivery.bodyBase64 === null ? '' : delivery.bodyBase64;
  }
  if (!pretty) return delivery.body;
  try {
    return JSON.stringify(JSON.parse(delivery.body), null, 2);
  } catch {
    return delivery.body;
  }
}

/** One forward's state in a line: "delivered (200) after 2 attempts", "retrying at ...". */
export function forwardSummary(forward: ForwardState, time: (ms: number) => string): string {
  const attempts = `${forward.attempts} attempt${forward.attempts === 1 ? '' : 's'}`;
  const status = forward.lastStatus === null ? '' : ` (${forward.lastStatus})`;
  switch (forward.state) {
    case 'delivered':
      return `delivered${status} after ${attempts}`;
    case 'failed':
      return `failed${status} after ${attempts}: ${forward.lastError ?? 'given up'}`;
    default: {
      if (forward.paused) return `waiting: the destination is paused (${attempts} so far)`;
      if (forward.attempts === 0) return "waiting for its first attempt (a user's deliveries go out in order)";
      const next = forward.nextTryAt === null ? '' : `; next try ${time(forward.nextTryAt)}`;
      return `retrying${status} after ${attempts}${next}`;
    }
  }
}

/** A user's state in a line: `ON_HOLD · REVIEW · Document Request Initiated`. */
export function stateLine(state: { status: string; decision: string; subStatus: string }): string {
  return [state.status || '(no status)', state.decision || '(no decision)', state.subStatus].filter((part) => part !== '').join(' · ');
}

/** What a body would set, in the documented flat form; null when it names no user that way. */
export function flatPayloadState(body: string | null): { externalId: string; status: string; decision: string; subStatus: string } | null {
  if (body === null) return null;
  try {
    const value: unknown = JSON.parse(body);
    if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
    const payload = value as Record<string, unknown>;
    if (typeof payload.externalId !== 'string' || payload.externalId === '') return null;
    const text = (field: unknown) => (typeof field === 'string' ? field : '');
    return { externalId: payload.externalId, status: text(payload.status), decision: text(payload.decision), subStatus: text(payload.subStatus) };
  } catch {
    return null;
  }
}

/** Whether sending a delivery again would move its user back: the user's latest state came
 * after it (a later delivery) and differs from what it says. Null: nothing to ask. */
export function replayWouldChange(
  deliveryId: number,
  says: { status: string; decision: string; subStatus: string },
  user: { status: string; decision: string; subStatus: string },
  latestDeliveryId: number,
): { before: string; after: string } | null {
  const same = says.status === user.status && says.decision === user.decision && says.subStatus === user.subStatus;
  if (same || deliveryId >= latestDeliveryId) return null;
  return { before: stateLine(user), after: stateLine(says) };
}
