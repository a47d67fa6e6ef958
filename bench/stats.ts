/** Percentiles of a sample (nearest rank), rounded to microseconds; what every benchmark here reports. */
export function summarize(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const mean = ms.reduce((sum, x) => sum + x, 0) / ms.length;
  return { n: ms.length, p50: round(at(0.5)), p95: round(at(0.95)), p99: round(at(0.99)), mean: round(mean) };
}
export type Summary = ReturnType<typeof summarize>;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `promise`, failing after `ms`; the timer is cleared so it cannot hold the process open. */
export async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what()} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
