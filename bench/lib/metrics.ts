// The services' own Prometheus metrics (/metrics on the gateway and every subgraph), read before and
// after a load: the differences of their duration histograms say where the time went.
import type { Platform } from "./platform.ts";

/** Each service's /metrics. */
export function metricsUrls(platform: Platform): Record<string, string> {
  return {
    gateway: platform.gatewayUrl.replace(/graphql$/, "metrics"),
    ...Object.fromEntries(
      Object.entries(platform.subgraphUrls).map(([name, url]) => [name, url.replace(/graphql$/, "metrics")]),
    ),
  };
}

/**
 * The services' Prometheus histograms (`*_sum` and `*_count` lines), from each /metrics that answers:
 * summed before and after the load, the difference is the time each spent, by metric and labels.
 */
export async function scrapeMetrics(urls: Record<string, string>) {
  const scraped: Record<string, Record<string, number>> = {};
  for (const [service, url] of Object.entries(urls)) {
    try {
      const response = await fetch(url);
      if (!response.ok) continue;
      const values: Record<string, number> = {};
      for (const line of (await response.text()).split("\n")) {
        const match = /^([a-zA-Z_:][\w:]*_(?:sum|count))(\{[^}]*\})? ([\d.eE+-]+)$/.exec(line);
        if (match) values[`${match[1]}${match[2] ?? ""}`] = Number(match[3]);
      }
      scraped[service] = values;
    } catch {
      // no metrics endpoint on this service (yet)
    }
  }
  return scraped;
}

export function metricsDelta(before: Record<string, Record<string, number>>, after: typeof before) {
  const delta: Record<string, Record<string, number>> = {};
  for (const [service, values] of Object.entries(after)) {
    const changed: Record<string, number> = {};
    for (const [name, value] of Object.entries(values)) {
      const d = value - (before[service]?.[name] ?? 0);
      if (d > 0) changed[name] = Math.round(d * 1000) / 1000;
    }
    delta[service] = changed;
  }
  return delta;
}

/**
 * Where the time went, from the metrics' differences: per service, the seconds each duration
 * histogram summed over all its labels (requests served, subgraph fetches, database queries...), and
 * per answered request of the load.
 */
export function timeBreakdown(delta: Record<string, Record<string, number>>, answered: number) {
  const breakdown: Record<
    string,
    Record<string, { seconds: number; msPerRequest: number; count: number }>
  > = {};
  for (const [service, values] of Object.entries(delta)) {
    const byMetric: Record<string, { seconds: number; msPerRequest: number; count: number }> = {};
    for (const [key, value] of Object.entries(values)) {
      const match = /^(.*_seconds)_(sum|count)(?:\{|$)/.exec(key);
      if (!match) continue;
      const entry = byMetric[match[1]!] ?? { seconds: 0, msPerRequest: 0, count: 0 };
      byMetric[match[1]!] = entry;
      if (match[2] === "sum") entry.seconds += value;
      else entry.count += value;
    }
    for (const entry of Object.values(byMetric)) {
      entry.seconds = Math.round(entry.seconds * 1000) / 1000;
      entry.msPerRequest = Math.round((entry.seconds / Math.max(1, answered)) * 1e6) / 1000;
    }
    if (Object.keys(byMetric).length) breakdown[service] = byMetric;
  }
  return breakdown;
}
