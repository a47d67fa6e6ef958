import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@app/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer, type Mailer, readMailbox } from "../mail/mailer.ts";
import { ACCOUNT_MAIL_QUEUES, ACCOUNT_MAIL_ROUTES, createAccountMailHandlers } from "./account-mail.ts";

/** Identity's e-mail jobs render real messages into the development mailbox, the secret in the fragment. */
let dir: string;
let mailer: Mailer;
const logger = createLogger("test", "silent");
const job = (payload: Record<string, unknown>) => ({
  eventId: "0190a000-0000-7000-8000-000000000001",
  tenantId: "0190a000-0000-7000-8000-000000000002",
  topic: "t",
  payload,
});
const ctx = { jobId: "job-1", logger };
const SECRET = "A".repeat(43);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "coditect-account-mail-"));
  mailer = createMailer({ mailDir: dir, from: "CODITECT <no-reply@coditect.test>", logger });
});
afterAll(async () => {
  await mailer.close();
  await rm(dir, { recursive: true, force: true });
});

describe("account mail jobs", () => {
  const handlers = () => createAccountMailHandlers({ mailer, appUrl: "https://app.example.test/base" });

  it("routes each identity topic to a queue that has a handler", () => {
    for (const queues of Object.values(ACCOUNT_MAIL_ROUTES)) {
      for (const queue of queues) {
        expect(queue in ACCOUNT_MAIL_QUEUES).toBe(true);
        expect(typeof handlers()[queue as keyof typeof ACCOUNT_MAIL_QUEUES]).toBe("function");
      }
    }
  });

  it("mails the password-reset link with the token in the fragment", async () => {
    const to = "reset@example.test";
    await handlers()["email.password-reset"](
      job({
        userId: "0190a000-0000-7000-8000-000000000003",
        email: to,
        name: "Ada",
        token: SECRET,
        expiresInMinutes: 60,
      }),
      ctx,
    );
    const [message] = await readMailbox(dir, { to });
    expect(message?.text).toContain(`https://app.example.test/base/reset-password#token=${SECRET}`);
    expect(message?.text).toContain("60");
  });

  it("mails the verification link and the invitation", async () => {
    await handlers()["email.verify"](
      job({
        userId: "0190a000-0000-7000-8000-000000000003",
        email: "verify@example.test",
        name: "Ada",
        token: SECRET,
      }),
      ctx,
    );
    expect((await readMailbox(dir, { to: "verify@example.test" }))[0]?.text).toContain(
      `/verify-email#token=${SECRET}`,
    );
    const token = `0190a000-0000-7000-8000-000000000002.0190a000-0000-7000-8000-000000000004.${SECRET}`;
    await handlers()["email.invitation"](
      job({
        invitationId: "0190a000-0000-7000-8000-000000000004",
        email: "invitee@example.test",
        role: "ADMIN",
        organizationName: "Acme",
        inviterName: "Ada",
        token,
      }),
      ctx,
    );
    const [invitation] = await readMailbox(dir, { to: "invitee@example.test" });
    expect(invitation?.subject).toContain("Acme");
    expect(invitation?.text).toContain(`/accept-invitation#token=${token}`);
  });

  it("refuses a malformed job without sending", async () => {
    await expect(
      handlers()["email.verify"](job({ email: "not-an-address", token: SECRET }), ctx),
    ).rejects.toThrow();
    expect(await readMailbox(dir, { to: "not-an-address" })).toEqual([]);
  });
});
