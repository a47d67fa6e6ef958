import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createServiceMetrics } from "@app/common/metrics";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { SUBGRAPHS } from "../scripts/subgraphs.ts";
import { createWorkerMetrics } from "../worker/src/metrics.ts";

// No Prometheus, Grafana or Docker runs here: this checks the committed monitoring files (ops/) against
// what the services really export and against docker-compose.yml, so a renamed metric or a moved file
// fails here rather than as an empty panel or an alert that can never fire.

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
const prometheus = parse(read("ops/prometheus/prometheus.yml"));
const ALERTS_PATH = "ops/prometheus/alerts.yml";
const alerts = parse(read(ALERTS_PATH)) as {
  groups: Array<{ name: string; rules: Array<Record<string, unknown>> }>;
};
const dashboard = JSON.parse(read("ops/grafana/dashboards/coditect-platform.json"));
const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>;
};

/** Every series name a scrape of the platform can return, histograms with their suffixes. */
function exportedSeries(): Set<string> {
  const registries = [
    createServiceMetrics("any").registry,
    createWorkerMetrics({ queues: async () => [], outboxPending: async () => 0 }).registry,
  ];
  const names = new Set(["up"]);
  for (const registry of registries)
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type } = metric as unknown as { name: string; type: string };
      names.add(name);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    }
  return names;
}
const SERIES = exportedSeries();

/** PromQL's functions, aggregations and keywords: identifiers in an expression that are not series. */
const PROMQL_WORDS = new Set(
  "sum min max avg count rate irate increase histogram_quantile by without on ignoring group_left group_right and or unless bool offset abs clamp_min clamp_max humanize".split(
    " ",
  ),
);

/** The series an expression reads: label matchers, groupings, strings and numbers taken out first. */
function seriesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\$__\w+/g, "");
  return [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w));
}

/** Parentheses, braces and brackets close in order (outside strings). */
function balanced(expr: string): boolean {
  const pairs: Record<string, string> = { ")": "(", "}": "{", "]": "[" };
  const stack: string[] = [];
  for (const c of expr.replace(/"(?:[^"\\]|\\.)*"/g, "")) {
    if ("({[".includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return false;
  }
  return stack.length === 0;
}

/** Where compose mounts a file or folder of this repository, by its path here. */
function mountTarget(service: string, source: string): string | undefined {
  return compose.services[service]?.volumes
    ?.map((v) => v.split(":"))
    .find(([from]) => from === `./${source}`)?.[1];
}

describe("Prometheus (ops/prometheus)", () => {
  it("scrapes /metrics of every service on its port of the port plan", () => {
    const [job] = prometheus.scrape_configs;
    expect(job.metrics_path).toBe("/metrics");
    const targets = job.static_configs.flatMap((c: { targets: string[] }) => c.targets);
    expect(targets.sort()).toEqual(
      ["gateway:4000", "worker:4005", ...SUBGRAPHS.map((s) => `${s.name}:${s.port}`)].sort(),
    );
    for (const target of targets) expect(Object.keys(compose.services)).toContain(target.split(":")[0]);
  });

  it("loads the alert rules from where compose mounts them", () => {
    expect(prometheus.rule_files).toEqual([mountTarget("prometheus", ALERTS_PATH)]);
    expect(mountTarget("prometheus", "ops/prometheus/prometheus.yml")).toBe("/etc/prometheus/prometheus.yml");
  });

  it("has well-formed alert rules that read only series the services export", () => {
    expect(alerts.groups.length).toBeGreaterThan(0);
    const names = alerts.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(new Set(names).size).toBe(names.length);
    for (const group of alerts.groups) {
      expect(group.name).toMatch(/^[a-z0-9-]+$/);
      for (const rule of group.rules) {
        const label = String(rule.alert);
        expect(Object.keys(rule).sort(), label).toEqual(["alert", "annotations", "expr", "for", "labels"]);
        expect(rule.alert, label).toMatch(/^[A-Z][A-Za-z]+$/);
        expect(rule.for, label).toMatch(/^\d+[smh]$/);
        expect((rule.labels as { severity: string }).severity, label).toMatch(/^(critical|warning)$/);
        const annotations = rule.annotations as Record<string, string>;
        expect(Object.keys(annotations).sort(), label).toEqual(["description", "summary"]);
        const expr = String(rule.expr);
        expect(balanced(expr), `${label}: unbalanced ${expr}`).toBe(true);
        const read = seriesOf(expr);
        expect(read.length, label).toBeGreaterThan(0);
        for (const series of read) expect(SERIES, `${label} reads ${series}`).toContain(series);
      }
    }
  });

  it.skipIf(!existsSync("/usr/bin/promtool"))("passes promtool's checks of the rules and the config", () => {
    const rules = fileURLToPath(new URL(`../${ALERTS_PATH}`, import.meta.url));
    expect(() => execFileSync("/usr/bin/promtool", ["check", "rules", rules])).not.toThrow();
    // The config names the rules where compose mounts them: point it at this checkout's copy.
    const dir = mkdtempSync(join(tmpdir(), "coditect-prometheus-"));
    try {
      const config = join(dir, "prometheus.yml");
      writeFileSync(config, stringify({ ...prometheus, rule_files: [rules] }));
      expect(() => execFileSync("/usr/bin/promtool", ["check", "config", config])).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Grafana (ops/grafana)", () => {
  it("provisions the dashboards folder compose mounts and data sources compose runs", () => {
    const provider = parse(read("ops/grafana/provisioning/dashboards/dashboards.yml")).providers[0];
    expect(provider.options.path).toBe(mountTarget("grafana", "ops/grafana/dashboards"));
    expect(mountTarget("grafana", "ops/grafana/provisioning")).toBe("/etc/grafana/provisioning");
    const sources = parse(read("ops/grafana/provisioning/datasources/datasources.yml")).datasources as Array<{
      uid: string;
      url: string;
    }>;
    expect(sources.map((s) => [s.uid, s.url])).toEqual([
      ["prometheus", "http://prometheus:9090"],
      ["jaeger", "http://jaeger:16686"],
    ]);
    expect(compose.services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(
      `${provider.options.path}/coditect-platform.json`,
    );
  });

  it("has a dashboard whose every panel queries series the services export", () => {
    expect(dashboard.uid).toBe("coditect-platform");
    const panels = (
      dashboard.panels as Array<{
        id: number;
        type: string;
        title: string;
        targets?: Array<{ expr: string }>;
      }>
    ).filter((p) => p.type !== "row");
    expect(new Set(dashboard.panels.map((p: { id: number }) => p.id)).size).toBe(dashboard.panels.length);
    for (const panel of panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets!) {
        expect(balanced(expr), `${panel.title}: unbalanced ${expr}`).toBe(true);
        for (const series of seriesOf(expr))
          expect(SERIES, `${panel.title} reads ${series}`).toContain(series);
      }
    }
    // What the issue asks to see: operations by name, errors, latency, subgraphs, database, Redis, WebSockets.
    const all = panels.flatMap((p) => p.targets!.map((t) => t.expr)).join("\n");
    for (const series of [
      "graphql_requests_total",
      "graphql_errors_total",
      "graphql_request_duration_seconds_bucket",
      "subgraph_fetch_duration_seconds_bucket",
      "db_query_duration_seconds_bucket",
      "redis_command_duration_seconds_bucket",
      "websocket_connections",
    ])
      expect(all).toContain(series);
  });
});

describe("docker-compose.yml's observability", () => {
  it("sends every GraphQL service's traces to Jaeger's OTLP/HTTP port", () => {
    for (const name of ["gateway", ...SUBGRAPHS.map((s) => s.name)])
      expect(compose.services[name]?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe(
        "http://jaeger:4318",
      );
  });
});
