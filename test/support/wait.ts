/**
 * Waiting in tests: a condition polled until it holds, never a fixed sleep
 * (a loaded machine must not fail a test, and a fast one must not wait).
 */

/** Waits until COND holds (checked every 20 ms), failing with WHAT after TIMEOUTMS. */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
