import { randomUUID } from "node:crypto";
import { userPrincipal } from "@app/common";
import { describe, expect, it, vi } from "vitest";
import { createAnswerSharing, sharingKeyOf } from "./shared-events.ts";

const tenantId = randomUUID();
const contextOf = (principal: Parameters<typeof userPrincipal>[0]) => ({
  requestId: randomUUID(),
  principal: userPrincipal(principal),
});
const variables = { projectId: randomUUID() };

describe("sharingKeyOf", () => {
  it("is the same for two users of one tenant with the same roles", () => {
    const a = contextOf({ tenantId, userId: randomUUID(), roles: ["MEMBER", "ADMIN"] });
    const b = contextOf({ tenantId, userId: randomUUID(), roles: ["ADMIN", "MEMBER"] });
    expect(sharingKeyOf(a, variables)).toBe(sharingKeyOf(b, variables));
  });

  it("differs with the tenant, the roles, the scopes, the credential or the variables", () => {
    const base = contextOf({ tenantId, userId: randomUUID(), roles: ["MEMBER"] });
    const key = sharingKeyOf(base, variables);
    const others = [
      sharingKeyOf(contextOf({ tenantId: randomUUID(), userId: randomUUID(), roles: ["MEMBER"] }), variables),
      sharingKeyOf(contextOf({ tenantId, userId: randomUUID(), roles: ["VIEWER"] }), variables),
      sharingKeyOf({ ...base, principal: { ...base.principal, scopes: ["read"] } }, variables),
      sharingKeyOf({ ...base, principal: { ...base.principal, credential: "apiKey" } }, variables),
      sharingKeyOf({ ...base, hostTenantId: randomUUID() }, variables),
      sharingKeyOf(base, { projectId: randomUUID() }),
    ];
    expect(new Set([key, ...others]).size).toBe(others.length + 1);
  });
});

describe("createAnswerSharing", () => {
  it("answers an event once for every subscriber of the group that receives it", async () => {
    const sharing = createAnswerSharing<string>();
    const subscribers = [1, 2, 3, 4, 5].map(() => sharing.subscriber("group"));
    for (const s of subscribers) s.join();
    const compute = vi.fn(async () => "answer");
    const answers = await Promise.all(subscribers.map((s) => s.answer('{"n":1}', compute)));
    expect(answers).toEqual(["answer", "answer", "answer", "answer", "answer"]);
    expect(compute).toHaveBeenCalledTimes(1);
    // The next event is answered anew, once again.
    await Promise.all(subscribers.map((s) => s.answer('{"n":2}', compute)));
    expect(compute).toHaveBeenCalledTimes(2);
  });

  it("never shares between groups", async () => {
    const sharing = createAnswerSharing<string>();
    const a = sharing.subscriber("tenant A");
    const b = sharing.subscriber("tenant B");
    a.join();
    b.join();
    expect(await a.answer("{}", async () => "A")).toBe("A");
    expect(await b.answer("{}", async () => "B")).toBe("B");
  });

  /** Two joined subscribers of one group, and an answer that counts how often it was computed. */
  function twoJoined() {
    const sharing = createAnswerSharing<number>();
    const [a, b] = [sharing.subscriber("group"), sharing.subscriber("group")];
    a.join();
    b.join();
    let computed = 0;
    return { sharing, a, b, compute: async () => ++computed, computed: () => computed };
  }

  it("answers a same-looking later event anew for a subscriber that already had the first", async () => {
    const { a, b, compute, computed } = twoJoined();
    expect(await a.answer("{}", compute)).toBe(1);
    // `a` receives the same-looking event again before `b` had the first: a new event for `a`...
    expect(await a.answer("{}", compute)).toBe(2);
    // ...and `b` receives both in turn.
    expect(await b.answer("{}", compute)).toBe(1);
    expect(await b.answer("{}", compute)).toBe(2);
    expect(computed()).toBe(2);
  });

  it("keeps no answer for a subscriber that has not joined or has left", async () => {
    const { sharing, a, b, compute } = twoJoined();
    const late = sharing.subscriber("group");
    expect(await a.answer("{}", compute)).toBe(1);
    // Not joined when the event was answered: it may not take that answer.
    late.join();
    expect(await late.answer("{}", compute)).toBe(2);
    b.leave();
    b.join(); // a stream that opens after its subscriber left does not bring it back
    expect(await b.answer("{}", compute)).toBe(3);
  });

  it("hands out no answer older than a few seconds", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const { a, b, compute } = twoJoined();
      expect(await a.answer("{}", compute)).toBe(1);
      vi.advanceTimersByTime(6_000);
      expect(await b.answer("{}", compute)).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
