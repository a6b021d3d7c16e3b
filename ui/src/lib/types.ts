// Generated from the Rust types by `UPDATE_UI_TYPES=1 cargo test --test ui_types`:
// edit those (src-tauri/src/monitor/views.rs and the types they name), not this file.
// Times are Unix milliseconds.

export type UserState = { decision: string, status: string, subStatus: string, participantId: string, account: string, };

export type Marker = "waiting-on-customer" | "escalated";

export type CaseNote = { id: number, externalId: string, writtenAt: number, author: string, text: string, };

export type Case = { externalId: string, 
/**
 * What a change names as the version it saw (0: nobody has worked on the case).
 */
version: number, assignee: string | null, marker: Marker | null, 
/**
 * Who changed it last, when, and what they did ("assigned to ann@example.com").
 */
updatedBy: string | null, updatedAt: number | null, lastAction: string | null, 
/**
 * Whether the user is in the review queue (the SLA applies).
 */
inQueue: boolean, 
/**
 * How long the SLA clock has run (waits on the customer left out), in the queue.
 */
clockMs: number | null, 
/**
 * When the clock passes the SLA, while it runs, in the queue.
 */
dueAt: number | null, 
/**
 * The clock has run longer than the SLA.
 */
overSla: boolean, 
/**
 * The notes, oldest first (on a `case` event: the note just written, if any). Empty for a
 * role below compliance: notes may hold personal data.
 */
notes: Array<CaseNote>, 
/**
 * The notes were left out for the caller's role.
 */
notesWithheld: boolean, };

export type CaseWorkers = { 
/**
 * Their names as the audit log and assignments spell them, sorted.
 */
people: Array<string>, };

export type Attention = { 
/**
 * The review queue's cases (its total).
 */
toReview: number, 
/**
 * Of those, the cases over the SLA.
 */
overSla: number, 
/**
 * The SLA, in milliseconds.
 */
reviewSlaMs: number, 
/**
 * The alert rules' conditions that fired and have not resolved (the same the alert
 * targets and the desktop's notifications are told).
 */
conditions: Array<ActiveCondition>, };

export type Assigned = "mine" | "unassigned";

export type User = { externalId: string, firstSeenAt: number, lastSeenAt: number, statusSince: number, eventCount: number, 
/**
 * Why the provider rejected the user (the newer envelope's `rejection_reason`).
 */
rejectionReason: string | null, 
/**
 * When the provider set the status (its `status_set_at`), beside `statusSince`, when the
 * monitor heard of it.
 */
statusSetAt: number | null, 
/**
 * The status is one the provider documents (else it shows in the "other" column).
 */
knownStatus: boolean, knownDecision: boolean, 
/**
 * The user's case (assignee, marker, SLA; no notes), where the view carries it: the
 * board, the review queue, the user page and the live feed's changes.
 */
case?: Case, decision: string, status: string, subStatus: string, participantId: string, account: string, };

export type BodyText = { body: string | null, bodyBase64: string | null, };

export type StatusCount = { status: string, decision: string, users: number, };

export type TunnelStatus = { "state": "off" } | { "state": "connecting" } | { "state": "up", publicUrl: string, } | { "state": "reconnecting", attempt: number, reason: string, } | { "state": "failed", reason: string, };

export type Tunnel = { kind: string, status: TunnelStatus, };

export type StoreProblem = { message: string, 
/**
 * When the problem was first seen (Unix milliseconds).
 */
since: number, 
/**
 * Only a restart helps (the file is gone); otherwise the next commit that works clears it.
 */
needsRestart: boolean, };

export type Overview = { webhookUrl: string, tunnel: Tunnel, 
/**
 * Why deliveries are not being acknowledged now, if they are not.
 */
storeProblem: StoreProblem | null, lastDeliveryAt: number | null, knownStatuses: Array<string>, totalUsers: number, counts: Array<StatusCount>, 
/**
 * What needs a person now (the top bar's and the tray's counts).
 */
attention: Attention, };

export type TeamConnection = "local" | "signed-out" | "connecting" | "connected" | "lost" | "ended";

export type TeamPerson = { user: string, name: string, role: Role, };

export type TeamView = { state: TeamConnection, url: string | null, person: TeamPerson | null, 
/**
 * What went wrong last, in a sentence.
 */
message: string | null, };

export type PageCursor = { afterSince: number, afterId: string, };

export type BoardPage = { users: Array<User>, next: PageCursor | null, 
/**
 * Users in the column's status that the filters let through (all of them, unfiltered).
 */
total: number, };

export type UsersFound = { users: Array<User>, };

export type ReviewSettings = { 
/**
 * Users in these statuses...
 */
statuses: Array<string>, 
/**
 * ...with one of these decisions ("" is no decision); empty: any decision.
 */
decisions: Array<string>, };

export type ReviewSort = "longestWait" | "latestChange" | "firstSeen" | "id";

export type ReviewQuery = { 
/**
 * One of the queue's statuses.
 */
status: string | null, 
/**
 * One of the queue's decisions ("" is no decision).
 */
decision: string | null, subStatus: string | null, 
/**
 * Only users who have been in their status at least this long.
 */
minAgeMinutes: number | null, 
/**
 * Only the caller's cases, or the unassigned ones.
 */
assigned: Assigned | null, 
/**
 * The order of the rows; absent: the longest wait first.
 */
sort: ReviewSort | null, 
/**
 * The cursor's time: when the user entered the status, or was first seen for `firstSeen`
 * (any number for `id`).
 */
afterSince: number | null, afterId: string | null, limit: number | null, };

export type SubStatusCount = { value: string, users: number, };

export type ReviewPage = { users: Array<User>, 
/**
 * Where the next page starts, if there may be one.
 */
next: PageCursor | null, 
/**
 * Users in the queue that the filters let through (not only those on this page).
 */
total: number, 
/**
 * Of those, the cases over the review SLA (their clock, waits on the customer left out,
 * has run longer than `reviewSlaMs`): the queue's late ones, as the top bar counts them.
 */
overSla: number, 
/**
 * The review SLA (`--review-sla`), in milliseconds.
 */
reviewSlaMs: number, 
/**
 * The subStatus values in the queue (under its statuses and decisions), the most common
 * first, for the filter to offer.
 */
subStatuses: Array<SubStatusCount>, settings: ReviewSettings, };

export type Outcome = "accepted" | "duplicate" | "ping" | "rejected";

export type TimelineEntry = { deliveryId: number, receivedAt: number, eventId: string | null, duplicate: boolean, 
/**
 * Learned by asking the provider's status API (reconcile), not delivered by a webhook.
 */
polled: boolean, 
/**
 * Named by the partner as a user to watch, not by the provider.
 */
watched: boolean, 
/**
 * The delivery this one replayed, when a person sent it again from the inspector.
 */
replayOf: number | null, 
/**
 * A replay whose body was edited before it was sent.
 */
edited: boolean, 
/**
 * The newer envelope's `rejection_reason` and `status_set_at`.
 */
rejectionReason: string | null, statusSetAt: number | null, 
/**
 * The payload's `data.date_of_birth`: personal data, absent below compliance.
 */
dateOfBirth: string | null, headers: Array<[string, string]>, 
/**
 * The headers and body are not shown to the caller's role.
 */
withheld: boolean, decision: string, status: string, subStatus: string, participantId: string, account: string, body: string | null, bodyBase64: string | null, };

export type UserDetail = { user: User, 
/**
 * The case with its notes (withheld below compliance).
 */
case: Case, timeline: Array<TimelineEntry>, };

export type Delivery = { id: number, receivedAt: number, remoteAddr: string, method: string, outcome: Outcome, httpStatus: number, error: string | null, webhookId: string | null, bodySize: number | null, headers: Array<[string, string]>, replayOf: number | null, 
/**
 * A replay whose body was edited before it was sent.
 */
edited: boolean, polled: boolean, 
/**
 * Named by the partner as a user to watch (`kyc-monitor watch`), not by the provider.
 */
watched: boolean, 
/**
 * The user this delivery named, when it named one.
 */
externalId: string | null, 
/**
 * The status and decision its body said, when it is an event about a user.
 */
status: string | null, decision: string | null, body: string | null, bodyBase64: string | null, };

export type CountedRefusals = { remoteAddr: string, 
/**
 * `signature-over-budget` (deliveries refused for their signature past the budget),
 * `over-budget` (other refusals past it), `checks-over-budget` (reachability checks past
 * it) or `headers-too-large` (answered 431 before anything could be read).
 */
reason: string, requests: number, 
/**
 * The start of the first and of the last minute counted (Unix ms).
 */
firstMinute: number, lastMinute: number, };

export type DeliveriesPage = { deliveries: Array<Delivery>, 
/**
 * Refused requests of the last 24 hours that were counted, not kept (over the budget per
 * address and minute, or headers too large to read).
 */
counted: Array<CountedRefusals>, };

export type ReplayAnswer = { deliveryId: number, outcome: Outcome, httpStatus: number, error: string | null, replayOf: number, 
/**
 * The user the delivery sent names (an edited body may name another than the original);
 * none for a validation request or a body that is not a notification.
 */
externalId: string | null, };

export type ReplayRequest = { body?: string, };

export type ForwardState = { destinationId: number, url: string, 
/**
 * The destination is paused: nothing goes out to it until it is resumed.
 */
paused: boolean, 
/**
 * `pending`, `delivered` or `failed`.
 */
state: string, attempts: number, 
/**
 * When the next attempt is due, while pending.
 */
nextTryAt: number | null, lastAttemptAt: number | null, lastStatus: number | null, lastError: string | null, };

export type Forwarding = { deliveryId: number, destinations: Array<ForwardState>, };

export type Destination = { id: number, url: string, paused: boolean, 
/**
 * Deliveries waiting to go out to it.
 */
pending: number, 
/**
 * Deliveries it refused or that ran out of time.
 */
failed: number, };

export type Destinations = { destinations: Array<Destination>, };

export type RetryAnswer = { deliveryId: number, destinations: number, };

export type Change = { deliveryId: number, outcome: Outcome, externalId: string | null, user: User | null, };

export type Resync = { through: number, };

export type StoreHealth = { problem: StoreProblem | null, };

export type WorkKind = "reconcile" | "backup" | "poll";

export type WorkState = "running" | "done" | "failed";

export type Work = { kind: WorkKind, state: WorkState, 
/**
 * Users asked (reconcile) or bytes copied (backup) so far.
 */
done: number, 
/**
 * Of how many, when known.
 */
total: number | null, 
/**
 * `users` or `bytes`.
 */
unit: string, 
/**
 * What it is doing now ("checking the copy"), or how it ended.
 */
message: string | null, 
/**
 * Unix milliseconds when it started.
 */
startedAt: number, 
/**
 * When it ended, once it has.
 */
finishedAt: number | null, 
/**
 * When the next one starts, for work that comes round by itself (the periodic poll).
 */
nextAt: number | null, };

export type BackupRequest = { 
/**
 * The new file to write, on the machine the monitor runs on.
 */
path: string, };

export type BackupReport = { path: string, bytes: number, deliveries: number, users: number, };

export type UiLink = { url: string, };

export type Rule = "review-sla" | "silence" | "refused-signatures" | "forwarding-failing" | "store-refusing";

export type Condition = { 
/**
 * Tells conditions apart (`silence`, `forwarding:3`): one start and one resolve per key.
 */
key: string, rule: Rule, 
/**
 * One sentence for a person; never a secret.
 */
summary: string, 
/**
 * The UI's view that shows it, as the address's hash (`#/deliveries`).
 */
view: string, };

export type ActiveCondition = { 
/**
 * When it fired (Unix ms).
 */
since: number, 
/**
 * Tells conditions apart (`silence`, `forwarding:3`): one start and one resolve per key.
 */
key: string, rule: Rule, 
/**
 * One sentence for a person; never a secret.
 */
summary: string, 
/**
 * The UI's view that shows it, as the address's hash (`#/deliveries`).
 */
view: string, };

export type AlertEvent = { 
/**
 * `false` when it started, `true` when it resolved.
 */
resolved: boolean, 
/**
 * When (Unix ms).
 */
at: number, 
/**
 * Tells conditions apart (`silence`, `forwarding:3`): one start and one resolve per key.
 */
key: string, rule: Rule, 
/**
 * One sentence for a person; never a secret.
 */
summary: string, 
/**
 * The UI's view that shows it, as the address's hash (`#/deliveries`).
 */
view: string, };

export type TargetFailure = { 
/**
 * Unix ms.
 */
at: number, error: string, };

export type TargetView = { id: number, 
/**
 * `slack`, `email` or `webhook`.
 */
kind: string, 
/**
 * The target with its secret parts masked.
 */
shown: string, sent: number, failedAttempts: number, lastSentAt: number | null, 
/**
 * Alerts waiting to be sent (or retried).
 */
queued: number, 
/**
 * The latest failures, newest first (at most [`engine::FAILURES_KEPT`]).
 */
failures: Array<TargetFailure>, };

export type RuleView = { rule: Rule, 
/**
 * What makes it fire, or that it is off.
 */
setting: string, };

export type AlertsView = { targets: Array<TargetView>, rules: Array<RuleView>, active: Array<ActiveCondition>, };

export type TestAlertRequest = { target: number, };

export type TestAlertAnswer = { delivered: boolean, error: string | null, target: TargetView, };

export type SessionView = { user: string, name: string, role: Role, csrfToken: string, 
/**
 * Whether people sign in to this monitor (team mode); alone, the one user is the local
 * admin and there is nothing to sign out of.
 */
team: boolean, };

export type AuditEntry = { seq: number, at: number, actor: string, 
/**
 * None where nobody was signed in (a failed sign-in).
 */
role: string | null, action: string, target: string, remoteAddr: string, 
/**
 * `ok`, `refused` or `failed`.
 */
outcome: string, detail: string, 
/**
 * The entry's link in the chain, hex.
 */
hash: string, };

export type AuditQuery = { 
/**
 * The person (`local` in single-person mode).
 */
actor: string | null, 
/**
 * An action's name, such as `user-viewed`.
 */
action: string | null, 
/**
 * What was looked at or changed: an externalId, a search text, a delivery id.
 */
target: string | null, 
/**
 * Entries at or after this time (Unix ms).
 */
since: number | null, 
/**
 * Entries before this time (Unix ms).
 */
until: number | null, 
/**
 * Entries older than this seq (the `next` of the page before).
 */
before: number | null, limit: number | null, };

export type AuditPage = { 
/**
 * Newest first.
 */
entries: Array<AuditEntry>, 
/**
 * The `before` of the next (older) page, when there may be one.
 */
next: number | null, 
/**
 * Entries this run could not write (the log says why); 0 when all is well.
 */
lost: number, };

export type LiveEvent = { "event": "change", "data": Change } | { "event": "resync", "data": Resync } | { "event": "tunnel", "data": Tunnel } | { "event": "store", "data": StoreHealth } | { "event": "work", "data": Array<Work> } | { "event": "audit", "data": AuditEntry } | { "event": "case", "data": Case } | { "event": "alert", "data": AlertEvent };

export type MinuteCount = { minuteStart: number, deliveries: number, rejected: number, };

export type DecisionDay = { 
/**
 * Unix milliseconds at the start of the day, UTC.
 */
dayStart: number, accept: number, reject: number, review: number, 
/**
 * Decisions outside the documented ones.
 */
other: number, };

export type StatusReached = { status: string, users: number, };

export type StatusTime = { status: string, 
/**
 * Stays that ended (the user moved on); none while everyone is still in it.
 */
stays: number, medianMs: number | null, p90Ms: number | null, };

export type Stats = { totalUsers: number, byStatus: { [key in string]: number }, byDecision: { [key in string]: number }, 
/**
 * Shares of ACCEPT and REJECT among decided users; none while nobody is decided.
 */
approvalRate: number | null, rejectionRate: number | null, medianTimeToCloseMs: number | null, 
/**
 * 90% of the closed users closed within this time from first seen.
 */
p90TimeToCloseMs: number | null, 
/**
 * Every minute of the last hour, oldest first, zeros included.
 */
perMinute: Array<MinuteCount>, 
/**
 * Every UTC day of the last [`DECISION_DAYS`], oldest first (today last), zeros included.
 */
decisionsPerDay: Array<DecisionDay>, 
/**
 * Users ever in each documented status, in the statuses' order.
 */
funnel: Array<StatusReached>, 
/**
 * Time in each status: the documented ones in order, then any other with finished stays.
 */
timeInStatus: Array<StatusTime>, };

export type EnvironmentId = "dev" | "preprod" | "prod";

export type Endpoints = { 
/**
 * The routes' base, also the token's `audience`.
 */
apiBase: string, 
/**
 * The token endpoint, also the assertion's `aud`.
 */
tokenUrl: string, };

export type ProviderEnvironment = { id: EnvironmentId, endpoints: Endpoints, };

export type ProviderProfile = { 
/**
 * A known environment, or `None` for custom endpoints.
 */
environment: EnvironmentId | null, endpoints: Endpoints, clientId: string, 
/**
 * Where the private key is read from; the key itself is never stored.
 */
privateKeyPath: string, };

export type RegistrationAttempt = { id: number, attemptedAt: number, webhookUrl: string, 
/**
 * `webhookUrl` (the documented body) or `webhook_url` (with a signing secret).
 */
form: string, apiBase: string, clientId: string, 
/**
 * `None` when the provider could not be asked; the message says why.
 */
validated: boolean | null, message: string, httpStatus: number | null, };

export type DemoSummary = { 
/**
 * Users the run brings in all.
 */
planned: number, 
/**
 * Users who have begun onboarding so far.
 */
users: number, 
/**
 * Deliveries started (duplicates included, retries not).
 */
sent: number, 
/**
 * Deliveries answered 2xx.
 */
acked: number, 
/**
 * Extra attempts after a non-2xx answer or a timeout.
 */
retried: number, 
/**
 * Deliveries given up after the last attempt.
 */
failed: number, 
/**
 * Steps deliberately not delivered.
 */
dropped: number, 
/**
 * Deliveries deliberately sent twice.
 */
duplicates: number, 
/**
 * Users whose onboarding has ended, by how it ended.
 */
approved: number, rejected: number, 
/**
 * Left ON_HOLD for review.
 */
held: number, abandoned: number, };

export type DemoStatus = { apiBase: string, finished: boolean, summary: DemoSummary, 
/**
 * The users the demo is done with who abandoned onboarding: they stay at `NOT_STARTED` or
 * `OPEN`, and the board marks their cards.
 */
abandonedUsers: Array<string>, 
/**
 * What the external ids of this run's users start with, once its flows began: the board
 * counts the story of this run only (not an earlier run's users, nor watched ones).
 */
idsPrefix: string | null, };

export type SigningSecretState = "current" | "previous" | "retired";

export type SigningSecretView = { state: SigningSecretState, 
/**
 * `whsec` (shared) or `whpk` (the sender's Ed25519 public key).
 */
kind: string, 
/**
 * The first 8 hex digits of the SHA-256 of the secret's canonical text.
 */
fingerprint: string, 
/**
 * Previous: accepted until then; retired: refused since then. Unix milliseconds.
 */
validUntil: number | null, };

export type ProviderOverview = { webhookUrl: string, 
/**
 * The tunnel's public webhook URL, once one is up.
 */
publicUrl: string | null, environments: Array<ProviderEnvironment>, profile: ProviderProfile | null, signingSecretStored: boolean, 
/**
 * The signing secrets deliveries are checked with, the current one first, and those rotated
 * out that are still recognised: never the secrets, only their state and fingerprint.
 */
signingSecrets: Array<SigningSecretView>, 
/**
 * The secrets were given at start (`--signing-secret`): a registration does not change them.
 */
signingSecretsGiven: boolean, 
/**
 * How long a registration with a new secret keeps the replaced one valid
 * (`--rotation-grace`), in seconds.
 */
rotationGraceSeconds: number, 
/**
 * Newest first.
 */
registrations: Array<RegistrationAttempt>, demo: DemoStatus | null, 
/**
 * The database is empty or already a demo's.
 */
demoAllowed: boolean, };

export type Signing = "none" | "keep" | "new";

export type RegisterForm = { 
/**
 * A known environment, or `None` for `apiBase` and `tokenUrl`.
 */
environment: EnvironmentId | null, apiBase: string, tokenUrl: string, clientId: string, privateKeyPath: string, webhookUrl: string, signing: Signing, 
/**
 * A secret the partner chose (`whsec_...`, or a provider's `whpk_...` public key), used
 * instead of `signing`: the CLI's `--signing-secret`.
 */
signingSecret?: string, 
/**
 * How long a new secret keeps the replaced one valid, in seconds (the CLI's
 * `--rotation-grace`); without it, the monitor's own `--rotation-grace`.
 */
rotationGraceSeconds?: number, };

export type RegisterAnswer = { attempt: RegistrationAttempt, 
/**
 * A new secret was made and stored; it is never shown in the UI.
 */
newSecretStored: boolean, };

export type Learned = { externalId: string, was: string, now: string, };

export type ReconcileReport = { 
/**
 * Users not CLOSED that the provider was asked about.
 */
asked: number, 
/**
 * Users whose state the provider knew better, now recorded.
 */
learned: Array<Learned>, 
/**
 * Users the provider does not know.
 */
unknown: number, 
/**
 * Why reconcile stopped early, if it did.
 */
error: string | null, };

export type WatchRequest = { externalIds: Array<string>, };

export type WatchAnswer = { 
/**
 * The ids given (repeats included).
 */
asked: number, 
/**
 * The users the monitor did not know before: now on the board at `NOT_STARTED`.
 */
new: number, };

export type ErrorCode = "notFound" | "invalid" | "conflict" | "provider" | "unavailable" | "unauthorized" | "forbidden";

export type ErrorBody = { code: ErrorCode, message: string, };

export type DesktopSettings = { 
/**
 * The database file; `None` is the OS data folder's default.
 */
db: string | null, 
/**
 * The webhook listener's address.
 */
listen: string, 
/**
 * `none`, `cloudflared`, `ngrok`, `bore:HOST[:PORT]` or `url:https://...`.
 */
tunnel: string, cloudflaredPath: string | null, ngrokDomain: string | null, 
/**
 * ngrok: only these source networks may call the webhook (empty: anyone).
 */
ngrokAllowCidrs: Array<string>, borePublicBase: string | null, 
/**
 * Every accepted delivery is forwarded to each of these URLs too (`serve --forward-to`);
 * the signing secret for them is in the keychain.
 */
forwardTo: Array<string>, 
/**
 * Raw deliveries older than this many days lose their body and headers
 * (`serve --keep-deliveries`); `None` keeps everything.
 */
keepDeliveriesDays: number | null, 
/**
 * When set, the only folder backups are written into (`serve --backup-dir`).
 */
backupDir: string | null, 
/**
 * A review case waiting longer than this is over its SLA (`serve --review-sla`), such as
 * `24h` or `4h30m`.
 */
reviewSla: string, 
/**
 * Where alerts go (`serve --alert-to`): `slack:URL`, `mailto:ADDRESS` or a URL;
 * `KYC_MONITOR_ALERT_TO` wins when set.
 */
alertTo: Array<string>, 
/**
 * The mail server for `mailto:` targets (`serve --smtp-url`), `smtp://USER@HOST:PORT`; its
 * password is in the keychain. `KYC_MONITOR_SMTP_URL` wins when set.
 */
smtpUrl: string | null, 
/**
 * Alerts when no delivery came for this long (`serve --alert-silence`); `None`: off.
 * `KYC_MONITOR_ALERT_SILENCE` wins when set.
 */
alertSilence: string | null, notifyReview: boolean, notifyReject: boolean, notifyAccept: boolean, 
/**
 * Set from the tray; kept across restarts.
 */
notificationsPaused: boolean, 
/**
 * When set, the app is a window onto this team monitor (`serve --auth oidc`): no listener
 * or tunnel of its own. The session is in the keychain, never here.
 */
teamUrl: string | null, };

export type DesktopStatus = { settings: DesktopSettings, settingsPath: string, settingsError: string | null, 
/**
 * The database this run uses.
 */
db: string, 
/**
 * Why the monitor could not start (the window then shows the settings to fix it).
 */
startupError: string | null, webhookUrl: string | null, };

export type SettingsSaved = { 
/**
 * Some of them apply from the next start only.
 */
restartNeeded: boolean, };

export type KeychainItem = "ngrok-authtoken" | "bore-secret" | "forward-signing-secret" | "smtp-password";

export type KeychainStatus = { available: boolean, 
/**
 * Why the keychain cannot be used here.
 */
reason: string | null, 
/**
 * Per secret: stored or not; `None` when it could not be read.
 */
items: { [key in KeychainItem]?: boolean | null }, };

export type Role = "viewer" | "support" | "compliance" | "admin";

export type NoPath = Record<symbol, never>;

export type NoInput = Record<symbol, never>;

export type StatusPath = { status: string, };

export type SearchInput = { q: string, limit?: number, };

export type UserPath = { externalId: string, };

export type DeliveriesQuery = { outcome?: string, 
/**
 * Only deliveries whose raw body contains this text.
 */
q?: string, 
/**
 * Only deliveries older than this id.
 */
before?: number, limit?: number, };

export type IdPath = { id: number, };

export type PauseInput = { paused: boolean, };

export type AssignInput = { 
/**
 * The case's version as the caller saw it.
 */
version: number, assignee?: string, };

export type SeenInput = { version: number, };

export type NoteInput = { text: string, version?: number, };

export type MarkInput = { version: number, marker: Marker | null, };

/** Every operation of the monitor (src-tauri/src/monitor/operations.rs): its HTTP route and the
 * least role allowed. The desktop window runs the same by name (all but the HTTP-only ones at the
 * end, which `Operations` does not list). */
export const OPERATIONS = {
  overview: { method: 'GET', path: '/api/overview', least: 'viewer' },
  stats: { method: 'GET', path: '/api/stats', least: 'viewer' },
  board: { method: 'GET', path: '/api/board/{status}', least: 'viewer' },
  search: { method: 'GET', path: '/api/search', least: 'support' },
  user: { method: 'GET', path: '/api/users/{externalId}', least: 'support' },
  deliveries: { method: 'GET', path: '/api/deliveries', least: 'compliance' },
  replay: { method: 'POST', path: '/api/deliveries/{id}/replay', least: 'compliance' },
  forwarding: { method: 'GET', path: '/api/deliveries/{id}/forwards', least: 'compliance' },
  retry_forward: { method: 'POST', path: '/api/deliveries/{id}/retry', least: 'admin' },
  destinations: { method: 'GET', path: '/api/destinations', least: 'compliance' },
  pause_destination: { method: 'POST', path: '/api/destinations/{id}/pause', least: 'admin' },
  review: { method: 'GET', path: '/api/review', least: 'compliance' },
  review_settings: { method: 'GET', path: '/api/review/settings', least: 'compliance' },
  save_review_settings: { method: 'POST', path: '/api/review/settings', least: 'compliance' },
  case: { method: 'GET', path: '/api/cases/{externalId}', least: 'compliance' },
  case_workers: { method: 'GET', path: '/api/case-workers', least: 'compliance' },
  assign_case: { method: 'POST', path: '/api/cases/{externalId}/assign', least: 'compliance' },
  unassign_case: { method: 'POST', path: '/api/cases/{externalId}/unassign', least: 'compliance' },
  note_case: { method: 'POST', path: '/api/cases/{externalId}/notes', least: 'compliance' },
  mark_case: { method: 'POST', path: '/api/cases/{externalId}/marker', least: 'compliance' },
  provider_overview: { method: 'GET', path: '/api/provider', least: 'admin' },
  register: { method: 'POST', path: '/api/register', least: 'admin' },
  reconcile: { method: 'POST', path: '/api/reconcile', least: 'admin' },
  watch: { method: 'POST', path: '/api/watch', least: 'compliance' },
  start_demo: { method: 'POST', path: '/api/demo', least: 'admin' },
  audit_log: { method: 'GET', path: '/api/audit', least: 'admin' },
  work: { method: 'GET', path: '/api/work', least: 'viewer' },
  backup: { method: 'POST', path: '/api/backup', least: 'admin' },
  alerts: { method: 'GET', path: '/api/alerts', least: 'admin' },
  send_test_alert: { method: 'POST', path: '/api/alerts/test', least: 'admin' },
  feed: { method: 'GET', path: '/api/feed', least: 'viewer' },
  review_csv: { method: 'GET', path: '/api/review.csv', least: 'compliance' },
  ui_link: { method: 'POST', path: '/api/ui-link', least: 'admin' },
  session: { method: 'GET', path: '/api/session', least: 'viewer' },
  end_sessions: { method: 'POST', path: '/api/sessions/end', least: 'admin' },
} as const;

/** Each operation's path parameters, input (query or JSON body) and answer. */
export type Operations = {
  /** The top bar and the board's counts. */
  overview: { path: NoPath; input: NoInput; output: Overview };
  /** Counts and times over all users. */
  stats: { path: NoPath; input: NoInput; output: Stats };
  /** One page of a board column, under the review queue's filters. */
  board: { path: StatusPath; input: ReviewQuery; output: BoardPage };
  /** Users whose `externalId` (or participant, or account) matches the text typed. */
  search: { path: NoPath; input: SearchInput; output: UsersFound };
  /** One user's state and whole timeline. */
  user: { path: UserPath; input: NoInput; output: UserDetail };
  /** The inspector: every request to the webhook, newest first, with raw headers and bodies. */
  deliveries: { path: NoPath; input: DeliveriesQuery; output: DeliveriesPage };
  /** Without a body, the stored bytes again; with `{"body": ...}`, an edited one. */
  replay: { path: IdPath; input: ReplayRequest; output: ReplayAnswer };
  /** Where a delivery was forwarded, and how each attempt went. */
  forwarding: { path: IdPath; input: NoInput; output: Forwarding };
  /** Sends a delivery that failed to forward once more. */
  retry_forward: { path: IdPath; input: NoInput; output: RetryAnswer };
  /** The forwarding destinations and how far each is. */
  destinations: { path: NoPath; input: NoInput; output: Destinations };
  /** Pauses or resumes forwarding to one destination. */
  pause_destination: { path: IdPath; input: PauseInput; output: Destinations };
  /** The review queue, filtered and sorted. */
  review: { path: NoPath; input: ReviewQuery; output: ReviewPage };
  /** The review queue's kept filters. */
  review_settings: { path: NoPath; input: NoInput; output: ReviewSettings };
  /** Keeps the review queue's filters. */
  save_review_settings: { path: NoPath; input: ReviewSettings; output: ReviewSettings };
  /** A user's case: assignee, marker, SLA clock and notes. */
  case: { path: UserPath; input: NoInput; output: Case };
  /** The people who work cases, for the assign box (any name may still be assigned). */
  case_workers: { path: NoPath; input: NoInput; output: CaseWorkers };
  /** Assigns a case to the caller, or to the person named; names the version seen. */
  assign_case: { path: UserPath; input: AssignInput; output: Case };
  /** Leaves a case to nobody; names the version seen. */
  unassign_case: { path: UserPath; input: SeenInput; output: Case };
  /** Appends a note to a case (notes are never edited or removed). */
  note_case: { path: UserPath; input: NoteInput; output: Case };
  /** Marks a case waiting-on-customer (its SLA clock pauses) or escalated, or clears it. */
  mark_case: { path: UserPath; input: MarkInput; output: Case };
  /** The Register view: environments, the profile, the last attempts. */
  provider_overview: { path: NoPath; input: NoInput; output: ProviderOverview };
  /** Registers the webhook with the provider. */
  register: { path: NoPath; input: RegisterForm; output: RegisterAnswer };
  /** Asks the provider for every known user's state and records what differs. */
  reconcile: { path: NoPath; input: NoInput; output: ReconcileReport };
  /** Adds users to watch: each unknown one shows at once as NOT_STARTED. */
  watch: { path: NoPath; input: WatchRequest; output: WatchAnswer };
  /** Starts the built-in provider emulator's demo. */
  start_demo: { path: NoPath; input: NoInput; output: DemoStatus };
  /** A page of the audit log, newest first, filtered. */
  audit_log: { path: NoPath; input: AuditQuery; output: AuditPage };
  /** Reconcile's, backup's and polling's progress, running or last finished (each to the roles that may start it; polling to everyone). */
  work: { path: NoPath; input: NoInput; output: Array<Work> };
  /** Copies the database to a new file on the monitor's machine. */
  backup: { path: NoPath; input: BackupRequest; output: BackupReport };
  /** The alert targets (masked) with their last failures, the rules, and what needs attention. */
  alerts: { path: NoPath; input: NoInput; output: AlertsView };
  /** Sends a test alert to one target now and says what came of it. */
  send_test_alert: { path: NoPath; input: TestAlertRequest; output: TestAlertAnswer };
};

/** The desktop window's commands. */
export type DesktopCommand = 'operation' | 'desktop_status' | 'save_settings' | 'restart' | 'window_ready' | 'keychain_status' | 'keychain_set' | 'keychain_delete' | 'save_review_csv' | 'team_status' | 'team_connect' | 'team_disconnect';

/** The statuses the provider documents, in board order. */
export const KNOWN_STATUSES = ["NOT_STARTED","OPEN","ON_HOLD","CLOSED"] as const;

/** How each documented status reads on screen; any other is "other". */
export const STATUS_LABELS: Record<(typeof KNOWN_STATUSES)[number], string> = {"CLOSED":"Closed","NOT_STARTED":"Not started","ON_HOLD":"On hold","OPEN":"Open"};

export const OTHER_STATUS_LABEL = "Other";

/** Every action the audit log records, as its entries name them. */
export const AUDIT_ACTIONS = ["sign-in","sign-in-failed","sign-out","sessions-ended","user-viewed","body-viewed","search","export","replay","resend","forward-retried","register","reconcile","settings-changed","backup","case-assign","case-unassign","case-note","case-marker","refused-by-role","watch"] as const;
