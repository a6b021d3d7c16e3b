// The one module that knows how the UI talks to the monitor. In a browser: HTTP and
// Server-Sent Events to the local UI listener. In the desktop window: the core's methods as
// Tauri commands, and the same live events as Tauri events; no port is opened. Both answer
// with the same types (./types).
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import { OPERATIONS } from './types';
import type {
  AlertEvent,
  Case,
  Marker,
  DeliveriesQuery,
  DesktopCommand,
  AuditEntry,
  AuditQuery,
  DesktopSettings,
  DesktopStatus,
  ErrorBody,
  ErrorCode,
  KeychainItem,
  KeychainStatus,
  LiveEvent,
  Operations,
  RegisterForm,
  SessionView,
  ReviewQuery,
  ReviewSettings,
  SettingsSaved,
  StoreHealth,
  TeamView,
  StoreProblem,
  Tunnel,
  UiLink,
  Change,
  Work,
} from './types';

/** True inside the desktop app's window. */
export const isDesktop = typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;

export class ApiError extends Error {
  constructor(
    message: string,
    /** What kind of failure, when the monitor said (a refusal by the browser guard does not). */
    readonly code: ErrorCode | null,
  ) {
    super(message);
  }
}

/** A command's answer in the window, or its refusal as an ApiError. */
async function command<T>(name: DesktopCommand, args: Record<string, unknown> = {}): Promise<T> {
  try {
    return await invoke<T>(name, args);
  } catch (failure) {
    if (failure && typeof failure === 'object' && 'message' in failure) {
      const body = failure as ErrorBody;
      throw new ApiError(body.message, body.code);
    }
    throw new ApiError(String(failure), null);
  }
}

/** The session's CSRF token (from `GET /api/session`), sent with every request that changes
 * something. */
let csrfToken = '';

/** The same call over HTTP to the UI listener, in a browser. */
async function fetchJson<T>(path: string, init?: { method?: string; json?: unknown }): Promise<T> {
  const method = init?.method ?? 'GET';
  const headers: Record<string, string> = method === 'GET' ? {} : { 'x-csrf-token': csrfToken };
  if (init?.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    credentials: 'same-origin',
    method,
    headers,
    ...(init?.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
  const body = (await response.json().catch(() => ({}))) as Partial<ErrorBody>;
  if (!response.ok) {
    throw new ApiError(body.message ?? `the monitor answered ${response.status}`, body.code ?? null);
  }
  return body as T;
}

type Name = keyof Operations;
type Answer<N extends Name> = Promise<Operations[N]['output']>;

/** One declared operation (see OPERATIONS): the window's `operation` command, or its HTTP route
 * in a browser, the path parameters put in the route and the input sent as its query (GET) or
 * JSON body (POST). `address` adjusts a GET's address. */
function run<N extends Name>(
  name: N,
  path: Operations[N]['path'],
  input: Operations[N]['input'],
  address: (href: string) => string = (href) => href,
): Answer<N> {
  if (isDesktop) return command('operation', { name, path, input });
  const spec = OPERATIONS[name];
  const params = path as Record<string, string | number>;
  const route = spec.path.replace(/\{(\w+)\}/g, (_, key: string) => encodeURIComponent(String(params[key])));
  if (spec.method === 'GET') return fetchJson(address(route + query(input as QueryParams)));
  return fetchJson(route, { method: 'POST', json: input });
}

type QueryParams = Record<string, string | number | boolean | undefined | null>;

function query(params: QueryParams): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export type DeliveriesFilter = DeliveriesQuery;

export const api = {
  overview: () => run('overview', {}, {}),
  /** One page of a board column, under the review queue's filters (its status is the column's). */
  board: (status: string, filter: ReviewQuery) => run('board', { status }, filter, (href) => withDecision(href, filter)),
  search: (q: string, limit = 12) => run('search', {}, { q, limit }),
  user: (externalId: string) => run('user', { externalId }, {}),
  deliveries: (filter: DeliveriesFilter) => run('deliveries', {}, filter),
  stats: () => run('stats', {}, {}),
  review: (filter: ReviewQuery) => run('review', {}, filter, (href) => withDecision(href, filter)),
  reviewSettings: () => run('review_settings', {}, {}),
  saveReviewSettings: (settings: ReviewSettings) => run('save_review_settings', {}, settings),
  replay: (id: number) => run('replay', { id }, {}),
  /** A user's case with its notes (compliance and admin). */
  case: (externalId: string) => run('case', { externalId }, {}),
  /** The people who work cases (compliance and admin), for the assign box. */
  caseWorkers: () => run('case_workers', {}, {}),
  /** Assigns a case to the caller, or to `assignee`; `version` is the one the person saw. */
  assignCase: (externalId: string, version: number, assignee?: string) =>
    run('assign_case', { externalId }, assignee === undefined ? { version } : { version, assignee }),
  unassignCase: (externalId: string, version: number) => run('unassign_case', { externalId }, { version }),
  noteCase: (externalId: string, text: string) => run('note_case', { externalId }, { text }),
  markCase: (externalId: string, version: number, marker: Marker | null) => run('mark_case', { externalId }, { version, marker }),
  /** A page of the audit log, newest first (admins). */
  auditLog: (filter: AuditQuery) => run('audit_log', {}, filter),
  /** Sends `body` to this monitor as a new delivery, marked as a local replay of `id`. */
  resend: (id: number, body: string) => run('replay', { id }, { body }),
  forwarding: (id: number) => run('forwarding', { id }, {}),
  retryForward: (id: number) => run('retry_forward', { id }, {}),
  destinations: () => run('destinations', {}, {}),
  pauseDestination: (id: number, paused: boolean) => run('pause_destination', { id }, { paused }),
  provider: () => run('provider_overview', {}, {}),
  register: (form: RegisterForm) => run('register', {}, form),
  reconcile: () => run('reconcile', {}, {}),
  /** Adds users to watch; each unknown one shows at once as NOT_STARTED. */
  watch: (externalIds: string[]) => run('watch', {}, { externalIds }),
  startDemo: () => run('start_demo', {}, {}),
  /** Reconcile's and backup's progress, running or last finished. */
  work: () => run('work', {}, {}),
  /** Copies the database to the new file `path` on the monitor's machine. */
  backup: (path: string) => run('backup', {}, { path }),
  /** Alert targets (masked) with their failures, the rules, what needs attention (admins). */
  alerts: () => run('alerts', {}, {}),
  /** Sends a test alert to one target now. */
  sendTestAlert: (target: number) => run('send_test_alert', {}, { target }),
};

/** The desktop window's one person: the local admin, with no route to ask and nothing to sign
 * out of. */
const LOCAL_ADMIN: SessionView = { user: 'local', name: 'local', role: 'admin', csrfToken: '', team: false };

/** Who is signed in, with which role; keeps their CSRF token for the requests that change
 * something. */
export async function loadSession(): Promise<SessionView> {
  if (isDesktop) {
    // A window onto a team monitor is its signed-in person, with their role there.
    const team = await command<TeamView>('team_status');
    if (team.state === 'local') return LOCAL_ADMIN;
    // Not known yet at start (the session comes from the keychain): the team monitor says.
    const person = team.person ?? (await command<SessionView>('operation', { name: 'session', path: {}, input: {} }));
    return { user: person.user, name: person.name, role: person.role, csrfToken: '', team: false };
  }
  const session = await fetchJson<SessionView>(OPERATIONS.session.path);
  csrfToken = session.csrfToken;
  return session;
}

/** Team mode: ends this browser's session, then shows the signed-out page. */
export async function signOut(): Promise<void> {
  const response = await fetch('/auth/logout', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'x-csrf-token': csrfToken },
    redirect: 'manual',
  });
  // The monitor answers with a redirect to the signed-out page (opaque here); anything else
  // is a refusal with a sentence.
  if (response.type !== 'opaqueredirect' && !response.ok) {
    const body = (await response.json().catch(() => ({}))) as Partial<ErrorBody>;
    throw new ApiError(body.message ?? `the monitor answered ${response.status}`, body.code ?? null);
  }
  location.assign('/auth/signed-out');
}

/** Browser only: replaces the UI's token, so that every earlier link and other browsers' cookies
 * stop working; this page gets the new cookie and the new link to keep. */
export const newUiLink = () => fetchJson<UiLink>(OPERATIONS.ui_link.path, { method: 'POST', json: {} });

/** A filtered address: "no decision" is an empty decision, which `query` would drop. */
function withDecision(path: string, filter: ReviewQuery): string {
  if (filter.decision !== '') return path;
  return `${path}${path.includes('?') ? '&' : '?'}decision=`;
}

/** What a failure says, for the page. */
export function failureText(failure: unknown): string {
  return failure instanceof Error ? failure.message : String(failure);
}

/** The desktop app's own commands (only in its window). */
export const desktop = {
  status: () => command<DesktopStatus>('desktop_status'),
  saveSettings: (settings: DesktopSettings) => command<SettingsSaved>('save_settings', { settings }),
  restart: () => command<void>('restart'),
  keychain: {
    status: () => command<KeychainStatus>('keychain_status'),
    /** The value goes one way: the window never reads a secret back. */
    set: (item: KeychainItem, value: string) => command<void>('keychain_set', { item, value }),
    remove: (item: KeychainItem) => command<boolean>('keychain_delete', { item }),
  },
  /** Saves the review queue, as `query` filters it, as a new CSV file in the user's Downloads
   * (the app writes it, by the same rule as every export); gives its path. */
  saveReviewCsv: (query: ReviewQuery) => command<string>('save_review_csv', { query }),
  /** The link to a team monitor, if the window is one onto it. */
  team: {
    status: () => command<TeamView>('team_status'),
    /** Signs in through the system browser; resolves once signed in (or refused). */
    connect: (url: string) => command<TeamView>('team_connect', { url }),
    /** Ends the session and starts the app again as a monitor of its own. */
    disconnect: () => command<void>('team_disconnect'),
    onChange: (changed: (team: TeamView) => void) => {
      const stop = listen<TeamView>('team', (event) => changed(event.payload));
      return () => void stop.then((unlisten) => unlisten());
    },
  },
  /** Tells the app the window shows its first view (for the launch-time figure). */
  ready: () => command<void>('window_ready'),
  /** A click on a desktop notification asks to open that user. */
  onOpenUser: (open: (externalId: string) => void) => {
    const stop = listen<string>('open-user', (event) => open(event.payload));
    return () => void stop.then((unlisten) => unlisten());
  },
  /** A click on the summary of a burst of notifications asks for the board. */
  onOpenBoard: (open: () => void) => {
    const stop = listen('open-board', () => open());
    return () => void stop.then((unlisten) => unlisten());
  },
  /** A click on an alert's notification asks for the view that shows it (`#/deliveries`). */
  onOpenView: (open: (hash: string) => void) => {
    const stop = listen<string>('open-view', (event) => open(event.payload));
    return () => void stop.then((unlisten) => unlisten());
  },
};

/** `refused`: the monitor no longer takes this page's token (a new UI link was made) or its
 * session (signed out, ended by an admin, expired). */
export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'refused';

/** Follows committed deliveries. The browser reconnects by itself and resumes after the last
 * event id; when it gives up (the monitor was down when it retried), the feed is opened again
 * here, with growing pauses, until the monitor answers. `onResync` asks the views to reload when
 * the monitor could not replay the gap. */
export function follow(handlers: {
  onChange: (change: Change) => void;
  onResync: () => void;
  onState: (state: FeedState) => void;
  onTunnel?: (tunnel: Tunnel) => void;
  onStore?: (problem: StoreProblem | null) => void;
  onWork?: (works: Work[]) => void;
  onAudit?: (entry: AuditEntry) => void;
  onCase?: (cased: Case) => void;
  onAlert?: (alert: AlertEvent) => void;
}): () => void {
  if (isDesktop) return followInProcess(handlers);
  let source: EventSource | null = null;
  let lastId: string | null = null;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let pause = 500;
  let stopped = false;

  const open = () => {
    source = new EventSource(lastId === null ? '/api/feed' : `/api/feed?after=${encodeURIComponent(lastId)}`);
    source.onopen = () => {
      pause = 500;
      handlers.onState('live');
    };
    source.onerror = () => {
      if (source?.readyState !== EventSource.CLOSED) return handlers.onState('reconnecting');
      source = null;
      void reopenLater();
    };
    source.addEventListener('change', (event) => {
      const message = event as MessageEvent;
      if (message.lastEventId) lastId = message.lastEventId;
      handlers.onChange(JSON.parse(message.data) as Change);
    });
    source.addEventListener('resync', () => handlers.onResync());
    source.addEventListener('tunnel', (event) => handlers.onTunnel?.(JSON.parse((event as MessageEvent).data) as Tunnel));
    source.addEventListener('store', (event) =>
      handlers.onStore?.((JSON.parse((event as MessageEvent).data) as StoreHealth).problem),
    );
    source.addEventListener('work', (event) => handlers.onWork?.(JSON.parse((event as MessageEvent).data) as Work[]));
    source.addEventListener('audit', (event) => handlers.onAudit?.(JSON.parse((event as MessageEvent).data) as AuditEntry));
    source.addEventListener('case', (event) => handlers.onCase?.(JSON.parse((event as MessageEvent).data) as Case));
    source.addEventListener('alert', (event) => handlers.onAlert?.(JSON.parse((event as MessageEvent).data) as AlertEvent));
  };

  // The browser closed the feed for good: the monitor refused it (its token was replaced, the
  // session ended) or could not be reached. Ask which, then try again a little later.
  const reopenLater = async () => {
    if (stopped) return;
    let refused = false;
    try {
      refused = (await fetch('/api/overview', { credentials: 'same-origin' })).status === 401;
    } catch {
      // Not reachable yet.
    }
    if (stopped) return;
    handlers.onState(refused ? 'refused' : 'reconnecting');
    retry = setTimeout(open, pause);
    pause = Math.min(pause * 2, 10_000);
  };

  handlers.onState('connecting');
  open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    source?.close();
  };
}

/** The desktop window's feed: the app follows the core's live stream and emits each event;
 * it never drops while the app runs. */
function followInProcess(handlers: Parameters<typeof follow>[0]): () => void {
  handlers.onState('connecting');
  const stop = listen<LiveEvent>('feed', ({ payload }) => {
    switch (payload.event) {
      case 'change':
        return handlers.onChange(payload.data);
      case 'resync':
        return handlers.onResync();
      case 'tunnel':
        return handlers.onTunnel?.(payload.data);
      case 'store':
        return handlers.onStore?.(payload.data.problem);
      case 'work':
        return handlers.onWork?.(payload.data);
      case 'audit':
        return handlers.onAudit?.(payload.data);
      case 'case':
        return handlers.onCase?.(payload.data);
      case 'alert':
        return handlers.onAlert?.(payload.data);
    }
  });
  void stop.then(() => handlers.onState('live'));
  return () => void stop.then((unlisten) => unlisten());
}
