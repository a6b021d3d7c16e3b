// Live changes can arrive by the hundred per second; views refresh at most once per `interval`,
// and always once after the last change, so the final state is never missed.
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
