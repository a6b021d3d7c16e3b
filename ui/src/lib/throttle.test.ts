import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { trailing } from './throttle';

describe('trailing', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs once for a burst, then once more for what came during it', async () => {
    const run = vi.fn();
    const schedule = trailing(run, 300);
    for (let i = 0; i < 100; i++) schedule();
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(1);
    schedule();
    await vi.advanceTimersByTimeAsync(299);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(run).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(run).toHaveBeenCalledTimes(2);
  });

  it('runs again for a change that arrives while it runs', async () => {
    let release: () => void = () => {};
    const run = vi.fn(() => new Promise<void>((resolve) => (release = resolve)));
    const schedule = trailing(run, 100);
    schedule();
    await vi.advanceTimersByTimeAsync(0);
    schedule(); // during the slow run
    release();
    await vi.advanceTimersByTimeAsync(200);
    expect(run).toHaveBeenCalledTimes(2);
  });
});
