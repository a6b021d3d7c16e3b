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

export type TunnelStatus =
  | { state: 'off' }
  | { state: 'connecting' }
  | { state: 'up'; publicUrl: string }
  | { state: 'reconnecting'; attempt: number; reason: string }
  | { state: 'failed'; reason: string };

/** The tunnel that exposes the webhook listener: its kind (`none`, `bore`, ...) and state. */
export interface Tunnel {
  kind: string;
  status: TunnelStatus;
}

/** Why the monitor is not acknowledging deliveries right now (the webhook answers 503). */
export interface StoreProblem {
  message: string;
  /** When it was first seen (Unix ms). */
  since: number;
  /** Only a restart helps; otherwise the next commit that works clears it. */
  needsRestart: boolean;
}

export interface Overview {
  webhookUrl: string;
  tunnel: Tunnel;
  storeProblem: StoreProblem | null;
  /** When the newest delivery arrived (Unix ms), if any did. */
  lastDeliveryAt: number | null;
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
  /** Learned by asking the provider's status API (reconcile), not delivered by a webhook. */
  polled: boolean;
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
  /** Learned by asking the provider's status API (reconcile), not delivered by a webhook. */
  polled: boolean;
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

export type EnvironmentId = 'dev' | 'preprod' | 'prod';

export interface Endpoints {
  apiBase: string;
  tokenUrl: string;
}

/** Who this monitor is to the provider: no secret, only where the key file is. */
export interface ProviderProfile {
  environment: EnvironmentId | null;
  endpoints: Endpoints;
  clientId: string;
  privateKeyPath: string;
}

export interface RegistrationAttempt {
  id: number;
  attemptedAt: number;
  webhookUrl: string;
  form: 'webhookUrl' | 'webhook_url';
  apiBase: string;
  clientId: string;
  /** null: the provider could not be asked (the message says why). */
  validated: boolean | null;
  message: string;
  httpStatus: number | null;
}

export interface DemoSummary {
  users: number;
  sent: number;
  acked: number;
  retried: number;
  failed: number;
  dropped: number;
  duplicates: number;
}

export interface DemoStatus {
  apiBase: string;
  finished: boolean;
  summary: DemoSummary;
}

export interface ProviderOverview {
  webhookUrl: string;
  /** The tunnel's public webhook URL, once one is up. */
  publicUrl: string | null;
  environments: { id: EnvironmentId; endpoints: Endpoints }[];
  profile: ProviderProfile | null;
  signingSecretStored: boolean;
  registrations: RegistrationAttempt[];
  demo: DemoStatus | null;
  demoAllowed: boolean;
}

export type Signing = 'none' | 'keep' | 'new';

export interface RegisterForm {
  environment: EnvironmentId | null;
  apiBase: string;
  tokenUrl: string;
  clientId: string;
  privateKeyPath: string;
  webhookUrl: string;
  signing: Signing;
}

export interface RegisterAnswer {
  attempt: RegistrationAttempt;
  newSecretStored: boolean;
}

export interface ReconcileReport {
  asked: number;
  learned: { externalId: string; was: string; now: string }[];
  unknown: number;
  error: string | null;
}

/** The desktop app's settings (kept in a file in the OS config folder; no secrets). */
export interface DesktopSettings {
  db: string | null;
  listen: string;
  tunnel: string;
  cloudflaredPath: string | null;
  ngrokDomain: string | null;
  /** ngrok: only these source networks may call the webhook (empty: anyone). */
  ngrokAllowCidrs: string[];
  borePublicBase: string | null;
  notifyReview: boolean;
  notifyReject: boolean;
  notifyAccept: boolean;
  notificationsPaused: boolean;
}

export interface DesktopStatus {
  settings: DesktopSettings;
  settingsPath: string;
  settingsError: string | null;
  /** The database this run uses. */
  db: string;
  /** Why the monitor could not start (the window then shows the settings to fix it). */
  startupError: string | null;
  webhookUrl: string | null;
}

/** What the OS keychain holds for the tunnels (whether, never what). */
export interface KeychainStatus {
  available: boolean;
  /** Why the keychain cannot be used here. */
  reason: string | null;
  /** Per secret: stored or not; null when it could not be read. */
  items: Partial<Record<KeychainItem, boolean | null>>;
}

export type KeychainItem = 'ngrok-authtoken' | 'bore-secret';
