// Node's inspector in a process the bench did not start with flags: SIGUSR1 makes a running Node process
// open it (on 127.0.0.1:9229, so one process at a time), and the Chrome DevTools Protocol over a
// WebSocket then forces a garbage collection, reads process.memoryUsage() or records a CPU profile. The
// bench closes it again afterwards, which frees the port for the next process.
import WebSocket from "ws";

const PORT = 9229;
const ROOT = new URL("..", import.meta.url).href;

export interface Inspector {
  call<T = unknown>(method: string, params?: object): Promise<T>;
  /** Evaluates `expression` in the process's main context and returns its (JSON-able) value. */
  evaluate<T>(expression: string): Promise<T>;
  close(): Promise<void>;
}

export async function openInspector(pid: number): Promise<Inspector> {
  process.kill(pid, "SIGUSR1");
  let url: string | undefined;
  const deadline = performance.now() + 10_000;
  while (!url) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${PORT}/json/list`)).json()) as Array<{
        webSocketDebuggerUrl: string;
      }>;
      url = targets[0]?.webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    if (!url && performance.now() > deadline) throw new Error(`process ${pid} opened no inspector`);
    if (!url) await new Promise((r) => setTimeout(r, 100));
  }
  const socket = new WebSocket(url, { maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let nextId = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  socket.on("message", (data) => {
    const message = JSON.parse(data.toString()) as {
      id?: number;
      result?: unknown;
      error?: { message: string };
    };
    const waiter = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id!);
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  const call = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  const evaluate = async <T>(expression: string) => {
    const { result, exceptionDetails } = await call<{
      result: { value: T };
      exceptionDetails?: { text: string };
    }>("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Error(`${expression}: ${exceptionDetails.text}`);
    return result.value;
  };
  const inspector: Inspector = {
    call,
    evaluate,
    async close() {
      const closed = new Promise((resolve) => socket.once("close", resolve));
      // Closing the inspector ends this very session, so the call gets no answer: do not wait for one.
      void call("Runtime.evaluate", {
        expression: `setImmediate(() => process.getBuiltinModule("node:inspector").close())`,
      }).catch(() => {});
      const timer = setTimeout(() => socket.terminate(), 5_000);
      await closed;
      clearTimeout(timer);
    },
  };
  // Port 9229 could belong to another Node process (a developer's debugger): make sure it is ours.
  const actual = await evaluate<number>("process.pid");
  if (actual !== pid) {
    socket.terminate();
    throw new Error(`the inspector on port ${PORT} belongs to process ${actual}, not ${pid}`);
  }
  return inspector;
}

/** V8 heap and off-heap memory of a process right after a full garbage collection, in kB. */
export async function memoryAfterGc(pid: number) {
  const inspector = await openInspector(pid);
  try {
    await inspector.call("HeapProfiler.collectGarbage");
    await inspector.call("HeapProfiler.collectGarbage");
    return await inspector.evaluate<{ heapUsedKB: number; externalKB: number; arrayBuffersKB: number }>(
      `(() => { const m = process.memoryUsage(); return { heapUsedKB: Math.round(m.heapUsed / 1024),
        externalKB: Math.round(m.external / 1024), arrayBuffersKB: Math.round(m.arrayBuffers / 1024) }; })()`,
    );
  } finally {
    await inspector.close();
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Samples the process's CPU (every millisecond) while `during` runs. */
export async function cpuProfile(pid: number, during: () => Promise<unknown>): Promise<CpuProfile> {
  const inspector = await openInspector(pid);
  try {
    await inspector.call("Profiler.enable");
    await inspector.call("Profiler.setSamplingInterval", { interval: 1000 });
    await inspector.call("Profiler.start");
    await during();
    const { profile } = await inspector.call<{ profile: CpuProfile }>("Profiler.stop");
    return profile;
  } finally {
    await inspector.close();
  }
}

/** Where code comes from: `node_modules/<name>`, our workspaces by folder, Node's internals, V8's states. */
function packageOf({ functionName, url }: ProfileNode["callFrame"]): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return "(node)";
  // Our own code, by workspace: gateway/src, subgraphs/projects, packages/common...
  return url.startsWith(ROOT) ? url.slice(ROOT.length).split("/").slice(0, 2).join("/") : url;
}

/**
 * Where a profile's time went: self time by package (`node_modules/<name>`, our own workspaces by
 * folder, Node's internals, garbage collection, idle) and the busiest functions, in ms.
 */
export function summarizeProfile(profile: CpuProfile, top = 15) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map<number, number>();
  for (const [i, id] of profile.samples.entries()) {
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }

  const packages = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const { callFrame } = byId.get(id)!;
    const pkg = packageOf(callFrame);
    packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
    const fn = `${callFrame.functionName || "(anonymous)"} ${pkg}:${callFrame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) =>
    Object.fromEntries(
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, v]) => [k, Math.round(v)]),
    );
  return {
    wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
    byPackage: sorted(packages),
    byFunction: sorted(functions),
  };
}

interface SamplingNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: SamplingNode[];
}

/**
 * What stays allocated: V8's sampling heap profiler runs while `during` runs, then a full collection
 * drops the garbage, so what the profile still holds is memory that `during` left live, by the code
 * that allocated it (every 4 KB allocated is sampled, so the figures are estimates).
 */
export async function retainedAllocations(pid: number, during: () => Promise<unknown>, top = 20) {
  const inspector = await openInspector(pid);
  try {
    await inspector.call("HeapProfiler.enable");
    await inspector.call("HeapProfiler.startSampling", { samplingInterval: 4096 });
    await during();
    await inspector.call("HeapProfiler.collectGarbage");
    await inspector.call("HeapProfiler.collectGarbage");
    const { profile } = await inspector.call<{ profile: { head: SamplingNode } }>(
      "HeapProfiler.stopSampling",
    );
    const byFunction = new Map<string, number>();
    const byPackage = new Map<string, number>();
    // Each allocation is charged to the innermost frame of our code or of a package, not Node's internals.
    const walk = (node: SamplingNode, owner: string, pkg: string) => {
      const { url, functionName, lineNumber } = node.callFrame;
      const own = packageOf(node.callFrame);
      if (url && own !== "(node)") {
        owner = `${functionName || "(anonymous)"} ${own}:${lineNumber + 1}`;
        pkg = own;
      }
      byFunction.set(owner, (byFunction.get(owner) ?? 0) + node.selfSize);
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + node.selfSize);
      for (const child of node.children) walk(child, owner, pkg);
    };
    walk(profile.head, "(root)", "(root)");
    const kB = (m: Map<string, number>) =>
      Object.fromEntries(
        [...m]
          .sort((a, b) => b[1] - a[1])
          .slice(0, top)
          .map(([k, v]) => [k, Math.round(v / 1024)]),
      );
    return { byPackageKB: kB(byPackage), byFunctionKB: kB(byFunction) };
  } finally {
    await inspector.close();
  }
}

/**
 * Starts recording, inside the process, how late its event loop runs (perf_hooks' delay histogram) and
 * each garbage-collection pause; `readLoopStats` collects and removes the recorders.
 */
export async function startLoopStats(pid: number): Promise<void> {
  const inspector = await openInspector(pid);
  try {
    await inspector.evaluate(`(() => {
      const { monitorEventLoopDelay, PerformanceObserver, constants } = process.getBuiltinModule("node:perf_hooks");
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const gc = { pauses: 0, totalMs: 0, maxMs: 0, major: 0, majorTotalMs: 0, majorMaxMs: 0 };
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          gc.pauses++;
          gc.totalMs += entry.duration;
          gc.maxMs = Math.max(gc.maxMs, entry.duration);
          if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
            gc.major++;
            gc.majorTotalMs += entry.duration;
            gc.majorMaxMs = Math.max(gc.majorMaxMs, entry.duration);
          }
        }
      });
      observer.observe({ entryTypes: ["gc"] });
      globalThis.__benchLoopStats = { delay, gc, observer };
    })()`);
  } finally {
    await inspector.close();
  }
}

export interface LoopStats {
  /** How late timers ran: the time a ready callback waited for the event loop. */
  loopDelayMs: { p50: number; p99: number; max: number };
  gc: {
    pauses: number;
    totalMs: number;
    maxMs: number;
    major: number;
    majorTotalMs: number;
    majorMaxMs: number;
  };
}

export async function readLoopStats(pid: number): Promise<LoopStats> {
  const inspector = await openInspector(pid);
  try {
    return await inspector.evaluate<LoopStats>(`(() => {
      const { delay, gc, observer } = globalThis.__benchLoopStats;
      delete globalThis.__benchLoopStats;
      delay.disable();
      observer.disconnect();
      // The histogram holds whole timer intervals: what is beyond the 10 ms resolution is the delay.
      const ms = (ns) => Math.max(0, Math.round((ns - 1e7) / 1e4) / 100);
      const round = (x) => Math.round(x * 100) / 100;
      return {
        loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
        gc: { ...gc, totalMs: round(gc.totalMs), maxMs: round(gc.maxMs), majorTotalMs: round(gc.majorTotalMs), majorMaxMs: round(gc.majorMaxMs) },
      };
    })()`);
  } finally {
    await inspector.close();
  }
}
