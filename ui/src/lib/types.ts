// The shapes the local UI API answers with (src-tauri/src/api.rs). Times are Unix milliseconds.

export interface User {
  externalId: string;
  decision: string;
  status: string;
  subStatus: string;
  participantId: string;
  account: string;
  firstSeenAt: number;
  lastSeenAt: number;
  statusSince: number;
  eventCount: number;
  knownStatus: boolean;
  knownDecision: boolean;
}

export interface StatusCount {
  status: string;
  decision: string;
  users: number;
}

export interface Overview {
  webhookUrl: string;
  knownStatuses: string[];
  totalUsers: number;
  counts: StatusCount[];
}

export interface BoardCursor {
  afterSince: number;
  afterId: string;
}

export interface BoardPage {
  users: User[];
  next: BoardCursor | null;
}

export type Header = [string, string];

export interface TimelineEntry {
  deliveryId: number;
  receivedAt: number;
  decision: string;
  status: string;
  subStatus: string;
  participantId: string;
  account: string;
  eventId: string | null;
  duplicate: boolean;
  headers: Header[];
  body: string | null;
  bodyBase64: string | null;
}

export interface UserDetail {
  user: User;
  timeline: TimelineEntry[];
}

export type Outcome = 'accepted' | 'duplicate' | 'ping' | 'rejected';

export interface Delivery {
  id: number;
  receivedAt: number;
  remoteAddr: string;
  method: string;
  outcome: Outcome;
  httpStatus: number;
  error: string | null;
  webhookId: string | null;
  bodySize: number | null;
  headers: Header[];
  body: string | null;
  bodyBase64: string | null;
  replayOf: number | null;
  /** The user this delivery named, when it named one. */
  externalId: string | null;
}

export interface ReplayAnswer {
  deliveryId: number;
  outcome: Outcome;
  httpStatus: number;
  error: string | null;
  replayOf: number;
}

/** One committed delivery, as the live feed announces it. */
export interface Change {
  deliveryId: number;
  outcome: Outcome;
  externalId: string | null;
  user: User | null;
}

export interface MinuteCount {
  minuteStart: number;
  deliveries: number;
  rejected: number;
}

export interface Stats {
  totalUsers: number;
  byStatus: Record<string, number>;
  byDecision: Record<string, number>;
  approvalRate: number | null;
  rejectionRate: number | null;
  medianTimeToCloseMs: number | null;
  perMinute: MinuteCount[];
}
