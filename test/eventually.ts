/**
 * Polls `probe` until `done` accepts its value (default: truthy) and returns that value; fails with the
 * last value seen after `timeoutMs`. For effects that happen after a commit: relays, jobs, streams.
 */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  done: (value: T) => boolean = Boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
