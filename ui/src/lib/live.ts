// Fans the live feed out to whichever views are open.
import type { Change } from './types';

type Listener = { onChange: (change: Change) => void; onResync: () => void };
const listeners = new Set<Listener>();

export function listen(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function announce(change: Change): void {
  for (const listener of listeners) listener.onChange(change);
}

export function announceResync(): void {
  for (const listener of listeners) listener.onResync();
}
