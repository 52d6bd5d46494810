/**
 * Holds the first `n` callers until all `n` have arrived, then releases them together: put it in front of an
 * append so concurrent writers read the same stream and race for the same sequence number.
 */
export function raceGate(n: number): (...args: unknown[]) => Promise<void> {
  let waiting: (() => void)[] = [];
  let armed = true;
  return async () => {
    if (!armed) return;
    await new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === n) {
        armed = false;
        for (const r of waiting) r();
        waiting = [];
      }
    });
  };
}
