import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createLogger } from "@app/common/logger";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer, readMailbox } from "../src/mail/mailer.ts";
import { renderEmail } from "../src/mail/templates.ts";

const logger = createLogger("mailer-test", "silent");
const FROM = "CODITECT <no-reply@coditect.test>";
const root = fileURLToPath(new URL("../..", import.meta.url));
const XSS = "<script>alert(1)</script>";

interface Received {
  rcptTo: string[];
  raw: string;
}

/** A real SMTP server on port 0 that keeps what it receives. */
async function startSmtpServer() {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    secure: false,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        received.push({
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString(),
        });
        callback();
      });
    },
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((done) => server.close(done)),
  };
}

/** The decoded body of the MIME part with this content type (quoted-printable is nodemailer's default). */
function mimePart(raw: string, contentType: string): string | undefined {
  const start = raw.search(new RegExp(`^Content-Type: ${contentType}`, "im"));
  if (start < 0) return undefined;
  const body = raw.slice(raw.indexOf("\r\n\r\n", start) + 4).split(/\r\n--/)[0]!;
  return body
    .replace(/=\r\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
}

describe("mailer over SMTP", () => {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  beforeAll(async () => {
    smtp = await startSmtpServer();
  });
  afterAll(() => smtp.close());

  it("delivers a rendered email with text and HTML parts, values escaped in the HTML", async () => {
    const mailer = createMailer({ smtpUrl: smtp.url, mailDir: "/nonexistent", from: FROM, logger });
    try {
      const result = await mailer.send({
        to: "ada@example.com",
        template: "invitation",
        data: {
          inviterName: XSS,
          organizationName: "Acme",
          role: "ADMIN",
          url: "https://app.test/invite/t0k",
        },
        tenantId: "tenant-1",
        jobId: "job-1",
      });
      expect(result.delivered).toBe("smtp");
      expect(smtp.received).toHaveLength(1);
      const { rcptTo, raw } = smtp.received[0]!;
      expect(rcptTo).toEqual(["ada@example.com"]);
      expect(raw).toMatch(/^Subject: .* invited you to Acme on CODITECT\r$/m);
      expect(raw).toContain(`Message-ID: ${result.messageId}`);

      const text = mimePart(raw, "text/plain");
      const html = mimePart(raw, "text/html");
      expect(text).toContain("https://app.test/invite/t0k");
      expect(text).toContain("as an admin");
      expect(html).toContain('href="https://app.test/invite/t0k"');
      expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
      expect(html).not.toContain("<script>");
    } finally {
      await mailer.close();
    }
  });
});

describe("mailer in mailbox mode", () => {
  let mailDir: string;
  beforeAll(async () => {
    mailDir = await mkdtemp(join(tmpdir(), "coditect-mail-"));
  });
  afterAll(() => rm(mailDir, { recursive: true, force: true }));

  it("writes one complete JSON file per message, read back newest first", async () => {
    const mailer = createMailer({ mailDir, from: FROM, logger });
    const first = await mailer.send({
      to: "bob@example.com",
      template: "welcome",
      data: { name: "Bob", organizationName: "Acme", appUrl: "https://app.test" },
    });
    const second = await mailer.send({
      to: "Ada@Example.com",
      template: "password-reset",
      data: { name: "Ada", url: "https://app.test/reset/abc", expiresInMinutes: 30 },
      tenantId: "tenant-2",
      jobId: "job-2",
    });
    await mailer.close();
    expect(second.delivered).toBe("mailbox");

    // No temp files left behind: every write ended in a rename.
    const files = await readdir(mailDir);
    expect(files).toHaveLength(2);
    expect(files.every((f) => /^\d{4}-\d\d-\d\dT[\d-]+\.\d{3}Z-.+\.json$/.test(f))).toBe(true);

    const all = await readMailbox(mailDir);
    expect(all.map((m) => m.messageId)).toEqual([second.messageId, first.messageId]);
    const reset = all[0]!;
    expect(reset).toMatchObject({
      to: "Ada@Example.com",
      from: FROM,
      subject: "Reset your CODITECT password",
      template: "password-reset",
      tenantId: "tenant-2",
      jobId: "job-2",
    });
    expect(reset.text).toContain("This link expires in 30 minutes.");
    expect(reset.html).toContain('href="https://app.test/reset/abc"');
    expect(Date.parse(reset.date)).toBeGreaterThan(Date.parse(all[1]!.date));
    expect(reset.raw).toContain("Subject: Reset your CODITECT password\r\n");
    expect(reset.raw).toContain(`Message-ID: ${reset.messageId}`);
    expect(all[1]!.tenantId).toBeNull();

    expect((await readMailbox(mailDir, { to: "ada@example.com" })).map((m) => m.messageId)).toEqual([
      second.messageId,
    ]);
    expect(await readMailbox(mailDir, { limit: 1 })).toHaveLength(1);
    expect(await readMailbox(join(mailDir, "missing"))).toEqual([]);
  });

  it("rejects bad data naming the field, and sends nothing", async () => {
    const dir = join(mailDir, "rejected");
    const mailer = createMailer({ mailDir: dir, from: FROM, logger });
    await expect(
      mailer.send({
        to: "ada@example.com",
        template: "password-reset",
        // A job's payload is JSON from the queue: the types do not protect it.
        data: { name: "Ada", url: "https://app.test/r", expiresInMinutes: "soon" as unknown as number },
      }),
    ).rejects.toThrow(/"password-reset".*expiresInMinutes/);
    await expect(
      mailer.send({
        to: "not-an-address",
        template: "verify-email",
        data: { name: "Ada", url: "https://a.test" },
      }),
    ).rejects.toThrow(/to: must be an email address/);
    expect(await readMailbox(dir)).toEqual([]);

    expect(() => renderEmail("verify-email", { name: "Ada", url: "javascript:alert(1)" })).toThrow(
      /url: must be an http\(s\) URL/,
    );
    expect(() =>
      renderEmail("welcome", {
        name: "Ada\r\nBcc: x@evil.test",
        organizationName: "",
        appUrl: "https://a.test",
      }),
    ).toThrow(/name: must be a single line; organizationName: must not be empty/);
  });
});

describe("npm run mail", () => {
  const run = promisify(execFile);
  let tmp: string;
  let mailDir: string;
  const cli = (...args: string[]) =>
    run(process.execPath, ["--import", "tsx", "worker/src/cli/mail.ts", ...args], {
      cwd: root,
      env: { ...process.env, MAIL_DIR: mailDir, INIT_CWD: "" },
    });

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "coditect-mail-cli-"));
    mailDir = join(tmp, "mail");
  });
  afterAll(() => rm(tmp, { recursive: true, force: true }));

  it("says so when the mailbox is empty, then lists and shows messages", async () => {
    expect((await cli()).stdout).toContain("No mailbox yet");

    const mailer = createMailer({ mailDir, from: FROM, logger });
    await mailer.send({
      to: "ada@example.com",
      template: "verify-email",
      data: { name: "Ada", url: "https://app.test/verify/1" },
    });
    await mailer.send({
      to: "bob@example.com",
      template: "invitation",
      data: {
        inviterName: "Ada",
        organizationName: "Acme",
        role: "MEMBER",
        url: "https://app.test/invite/2",
      },
    });
    await mailer.close();

    const list = (await cli()).stdout.split("\n");
    expect(list[1]).toMatch(
      /^1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +bob@example\.com +Ada invited you to Acme/,
    );
    expect(list[2]).toMatch(/^2 +.+ada@example\.com +Confirm your email address$/);

    const shown = (await cli("show", "2")).stdout;
    expect(shown).toMatch(/^Subject: +Confirm your email address$/m);
    expect(shown).toContain("----- text/plain -----\nHi Ada");
    expect(shown).toContain("----- text/html -----\n<!doctype html>");
    expect(shown).toContain('href="https://app.test/verify/1"');

    expect((await cli("show", "--to", "bob@example.com")).stdout).toMatch(/^To: +bob@example\.com$/m);
    expect((await cli("--to", "nobody@example.com")).stdout).toContain(
      "holds no messages to nobody@example.com",
    );
    expect((await cli("--help")).stdout).toContain("MAIL_DIR");
  });
});
