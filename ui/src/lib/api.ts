// The one module that knows how the UI talks to the monitor. In a browser: HTTP and
// Server-Sent Events to the local UI listener. In the desktop window: the same API called
// in-process through a Tauri command, and the same feed as Tauri events; no port is opened.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type {
  BoardCursor,
  BoardPage,
  Change,
  Delivery,
  DemoStatus,
  Overview,
  ProviderOverview,
  ReconcileReport,
  RegisterAnswer,
  RegisterForm,
  ReplayAnswer,
  Stats,
  StoreProblem,
  Tunnel,
  User,
  UserDetail,
  DesktopSettings,
  DesktopStatus,
  KeychainItem,
  KeychainStatus,
} from './types';

/** True inside the desktop app's window. */
export const isDesktop = typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function request<T>(path: string, init?: { method?: string; json?: unknown }): Promise<T> {
  const method = init?.method ?? 'GET';
  let status: number;
  let body: { error?: string };
  if (isDesktop) {
    const reply = await invoke<{ status: number; body: unknown }>('api', { method, path, body: init?.json ?? null });
    status = reply.status;
    body = (reply.body ?? {}) as { error?: string };
  } else {
    const response = await fetch(path, {
      credentials: 'same-origin',
      method,
      ...(init?.json === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.json) }),
    });
    status = response.status;
    body = (await response.json().catch(() => ({}))) as { error?: string };
  }
  if (status < 200 || status >= 300) {
    throw new ApiError(body.error ?? `the monitor answered ${status}`, status);
  }
  return body as T;
}

function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const api = {
  overview: () => request<Overview>('/api/overview'),
  board: (status: string, after?: BoardCursor | null, limit = 50) =>
    request<BoardPage>(`/api/board/${encodeURIComponent(status)}${query({ ...after, limit })}`),
  search: (q: string, limit = 12) => request<{ users: User[] }>(`/api/search${query({ q, limit })}`),
  user: (externalId: string) => request<UserDetail>(`/api/users/${encodeURIComponent(externalId)}`),
  deliveries: (filter: { outcome?: string; q?: string; before?: number | null; limit?: number }) =>
    request<{ deliveries: Delivery[] }>(`/api/deliveries${query(filter)}`),
  stats: () => request<Stats>('/api/stats'),
  replay: (id: number) => request<ReplayAnswer>(`/api/deliveries/${id}/replay`, { method: 'POST' }),
  provider: () => request<ProviderOverview>('/api/provider'),
  register: (form: RegisterForm) => post<RegisterAnswer>('/api/register', form),
  reconcile: () => post<ReconcileReport>('/api/reconcile', {}),
  startDemo: () => post<DemoStatus>('/api/demo', {}),
};

function post<T>(path: string, json: unknown): Promise<T> {
  return request<T>(path, { method: 'POST', json });
}

/** The desktop app's own commands (only in its window). */
export const desktop = {
  status: () => invoke<DesktopStatus>('desktop_status'),
  saveSettings: (settings: DesktopSettings) => invoke<{ restartNeeded: boolean }>('save_settings', { settings }),
  restart: () => invoke<void>('restart'),
  keychain: {
    status: () => invoke<KeychainStatus>('keychain_status'),
    /** The value goes one way: the window never reads a secret back. */
    set: (item: KeychainItem, value: string) => invoke<void>('keychain_set', { item, value }),
    remove: (item: KeychainItem) => invoke<boolean>('keychain_delete', { item }),
  },
  /** Tells the app the window shows its first view (for the launch-time figure). */
  ready: () => invoke<void>('window_ready'),
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
};

export type FeedState = 'connecting' | 'live' | 'reconnecting';

/** Follows committed deliveries. The browser reconnects by itself and resumes after the last
 * event id; `onResync` asks the views to reload when the monitor could not replay the gap. */
export function follow(handlers: {
  onChange: (change: Change) => void;
  onResync: () => void;
  onState: (state: FeedState) => void;
  onTunnel?: (tunnel: Tunnel) => void;
  onStore?: (problem: StoreProblem | null) => void;
}): () => void {
  if (isDesktop) return followInProcess(handlers);
  const source = new EventSource('/api/feed');
  handlers.onState('connecting');
  source.onopen = () => handlers.onState('live');
  source.onerror = () => handlers.onState('reconnecting');
  source.addEventListener('change', (event) => handlers.onChange(JSON.parse((event as MessageEvent).data) as Change));
  source.addEventListener('resync', () => handlers.onResync());
  source.addEventListener('tunnel', (event) => handlers.onTunnel?.(JSON.parse((event as MessageEvent).data) as Tunnel));
  source.addEventListener('store', (event) =>
    handlers.onStore?.((JSON.parse((event as MessageEvent).data) as { problem: StoreProblem | null }).problem),
  );
  return () => source.close();
}

/** The desktop window's feed: the app reads the same event stream in-process and re-emits each
 * event; it never drops while the app runs. */
function followInProcess(handlers: Parameters<typeof follow>[0]): () => void {
  handlers.onState('connecting');
  const stop = listen<{ event: string; data: unknown }>('feed', ({ payload }) => {
    if (payload.event === 'change') handlers.onChange(payload.data as Change);
    else if (payload.event === 'resync') handlers.onResync();
    else if (payload.event === 'tunnel') handlers.onTunnel?.(payload.data as Tunnel);
    else if (payload.event === 'store') handlers.onStore?.((payload.data as { problem: StoreProblem | null }).problem);
  });
  void stop.then(() => handlers.onState('live'));
  return () => void stop.then((unlisten) => unlisten());
}
