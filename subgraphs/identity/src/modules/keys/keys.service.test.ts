import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadSigningKeys, rotateSigningKeys } from "./keys.service.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "coditect-keys-test-"));
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

const kids = (jwks: { keys: Array<{ kid?: string }> }) => jwks.keys.map((k) => k.kid);
const at = (iso: string) => vi.setSystemTime(new Date(iso));

describe("signing-key rotation", () => {
  it("publishes the new key before it signs and the old one until its tokens have expired", async () => {
    const keys = await loadSigningKeys(dir, { reloadSeconds: 1 });
    const old = keys.current.kid;
    expect(kids(keys.jwks)).toEqual([old]);

    const rotation = await rotateSigningKeys(dir, {
      publishLeadSeconds: 600,
      tokenTtlSeconds: 900,
      marginSeconds: 60,
    });
    expect(rotation.activatesAt).toBe("2026-01-01T00:10:00.000Z");
    expect(rotation.retiring).toEqual([{ kid: old, retiresAt: "2026-01-01T00:26:00.000Z" }]);
    await keys.reload();
    // Published at once, not signing yet.
    expect(kids(keys.jwks)).toEqual([old, rotation.kid]);
    expect(keys.current.kid).toBe(old);

    at("2026-01-01T00:10:00Z");
    expect(keys.current.kid).toBe(rotation.kid);
    expect(kids(keys.jwks)).toEqual([old, rotation.kid]);

    at("2026-01-01T00:25:59Z");
    expect(kids(keys.jwks)).toContain(old);
    at("2026-01-01T00:26:00Z");
    expect(kids(keys.jwks)).toEqual([rotation.kid]);
    expect(keys.current.kid).toBe(rotation.kid);
  });

  it("refuses a second rotation while one is pending; the next one drops retired keys from the file", async () => {
    const keys = await loadSigningKeys(dir);
    const first = keys.current.kid;
    const options = { publishLeadSeconds: 60, tokenTtlSeconds: 60, marginSeconds: 0 };
    const second = await rotateSigningKeys(dir, options);
    await expect(rotateSigningKeys(dir, options)).rejects.toThrow(/already waiting to activate/);
    at("2026-01-01T01:00:00Z");
    const third = await rotateSigningKeys(dir, options);
    expect(third.removed).toEqual([first]);
    const file = JSON.parse(await readFile(join(dir, "signing-keys.json"), "utf8")) as Array<{ kid: string }>;
    expect(file.map((k) => k.kid)).toEqual([second.kid, third.kid]);
  });

  it("picks up a rotation in the background after reloadSeconds", async () => {
    const keys = await loadSigningKeys(dir, { reloadSeconds: 30 });
    const rotation = await rotateSigningKeys(dir, {
      publishLeadSeconds: 0,
      tokenTtlSeconds: 60,
      marginSeconds: 0,
    });
    expect(kids(keys.jwks)).toHaveLength(1);
    at("2026-01-01T00:00:31Z");
    void keys.jwks; // starts the reload
    await vi.waitFor(() => expect(kids(keys.jwks)).toContain(rotation.kid));
    expect(keys.current.kid).toBe(rotation.kid);
  });
});
