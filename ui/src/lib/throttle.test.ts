import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { perFrame, trailing } from './throttle';

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

describe('perFrame', () => {
  it('hands over everything that arrived before the frame, in one call', () => {
    const frames: (() => void)[] = [];
    const flushed: number[][] = [];
    const push = perFrame<number>((items) => flushed.push(items), (run) => frames.push(run));
    for (let i = 0; i < 3000; i++) push(i);
    expect(frames).toHaveLength(1);
    expect(flushed).toEqual([]);
    frames.shift()?.();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]).toHaveLength(3000);
    push(3000);
    frames.shift()?.();
    expect(flushed[1]).toEqual([3000]);
  });

  it('falls back on a timer when no frame comes', async () => {
    vi.useFakeTimers();
    const requested: FrameRequestCallback[] = [];
    vi.stubGlobal('requestAnimationFrame', (run: FrameRequestCallback) => requested.push(run));
    try {
      const flushed: string[][] = [];
      const push = perFrame<string>((items) => flushed.push(items));
      push('a');
      push('b');
      await vi.advanceTimersByTimeAsync(250);
      expect(flushed).toEqual([['a', 'b']]);
      // The frame that comes late does not hand the same items over again.
      requested[0]?.(0);
      expect(flushed).toHaveLength(1);
    } finally {
      vi.unstubAllGlobals();
      vi.useRealTimers();
    }
  });
});
