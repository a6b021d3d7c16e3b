// The one module that knows how the UI talks to the monitor: HTTP and Server-Sent Events to the
// local UI listener. (The desktop shell will swap this module for Tauri commands and events.)
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
  Tunnel,
  User,
  UserDetail,
} from './types';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(path, { credentials: 'same-origin', ...init });
  const body = (await response.json().catch(() => ({}))) as { error?: string };
  if (!response.ok) {
    throw new ApiError(body.error ?? `the monitor answered ${response.status}`, response.status);
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

function post<T>(path: string, body: unknown): Promise<T> {
  return request<T>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

export type FeedState = 'connecting' | 'live' | 'reconnecting';

/** Follows committed deliveries. The browser reconnects by itself and resumes after the last
 * event id; `onResync` asks the views to reload when the monitor could not replay the gap. */
export function follow(handlers: {
  onChange: (change: Change) => void;
  onResync: () => void;
  onState: (state: FeedState) => void;
  onTunnel?: (tunnel: Tunnel) => void;
}): () => void {
  const source = new EventSource('/api/feed');
  handlers.onState('connecting');
  source.onopen = () => handlers.onState('live');
  source.onerror = () => handlers.onState('reconnecting');
  source.addEventListener('change', (event) => handlers.onChange(JSON.parse((event as MessageEvent).data) as Change));
  source.addEventListener('resync', () => handlers.onResync());
  source.addEventListener('tunnel', (event) => handlers.onTunnel?.(JSON.parse((event as MessageEvent).data) as Tunnel));
  return () => source.close();
}
