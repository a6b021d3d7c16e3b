// Live changes can arrive by the thousand per second; views take them at most once per frame
// (perFrame) and refresh what they fetch at most once per `interval` (trailing), and always once
// after the last change, so the final state is never missed.
export function trailing(run: () => Promise<void> | void, interval: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let again = false;
  const fire = async () => {
    again = false;
    try {
      await run();
    } finally {
      timer = setTimeout(() => {
        timer = undefined;
        if (again) schedule();
      }, interval);
    }
  };
  const schedule = () => {
    if (timer !== undefined) {
      again = true;
      return;
    }
    timer = setTimeout(() => void fire(), 0);
  };
  return schedule;
}

/** Runs `run` at the next frame, or after `fallbackMs` if no frame comes first (a hidden tab
 * draws none). */
export function nextFrame(run: () => void, fallbackMs = 250): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    run();
  };
  const timer = setTimeout(once, fallbackMs);
  requestAnimationFrame(once);
}

/** Collects what arrives and hands it over in one call per frame: a burst of thousands of live
 * changes becomes one update per frame instead of one per change. */
export function perFrame<T>(flush: (items: T[]) => void, schedule: (run: () => void) => void = nextFrame): (item: T) => void {
  let pending: T[] = [];
  return (item) => {
    pending.push(item);
    if (pending.length > 1) return;
    schedule(() => {
      const items = pending;
      pending = [];
      flush(items);
    });
  };
}
