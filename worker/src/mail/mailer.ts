import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "@app/common/logger";
import nodemailer from "nodemailer";
import { z } from "zod";
import { MailDataError, renderEmail, type TemplateData, type TemplateName } from "./templates.ts";

/** The development mailbox: `.data/mail` at the repository root, wherever the process was started. */
export const DEFAULT_MAIL_DIR = fileURLToPath(new URL("../../../.data/mail", import.meta.url));

export interface MailerOptions {
  /**
   * SMTP connection URL (`smtp://user:pass@host:587`, `smtps://...`; add `?pool=true` to reuse
   * connections). Unset: every message is written to {@link MailerOptions.mailDir} instead of sent.
   */
  smtpUrl?: string;
  /** The development mailbox folder, used only without `smtpUrl`. */
  mailDir: string;
  /** The From header, e.g. `"CODITECT <no-reply@coditect.example>"`. */
  from: string;
  logger: Logger;
}

/** One email to send: a template and its data, plus the tenant and job it belongs to for the logs. */
export type MailMessage = {
  [T in TemplateName]: { template: T; data: TemplateData<T> };
}[TemplateName] & { to: string; tenantId?: string; jobId?: string };

export interface SendResult {
  messageId: string;
  delivered: "smtp" | "mailbox";
}

export interface Mailer {
  /** Renders and delivers one message; throws {@link MailDataError} when the message itself is bad. */
  send(message: MailMessage): Promise<SendResult>;
  close(): Promise<void>;
}

const recipient = z.email("must be an email address");

/** One file in the development mailbox. */
export const mailboxMessage = z.object({
  messageId: z.string(),
  date: z.string(),
  from: z.string(),
  to: z.string(),
  subject: z.string(),
  text: z.string(),
  html: z.string(),
  template: z.string(),
  tenantId: z.string().nullable(),
  jobId: z.string().nullable(),
  /** The complete RFC 822 source, as it would have gone over SMTP. */
  raw: z.string(),
});
export type MailboxMessage = z.infer<typeof mailboxMessage>;

export function createMailer(options: MailerOptions): Mailer {
  const { smtpUrl, mailDir, from } = options;
  const logger = options.logger.child({ component: "mailer" });
  const smtp = smtpUrl ? nodemailer.createTransport(smtpUrl) : undefined;
  // Without SMTP, nodemailer still builds the real message; the stream transport hands it back as a Buffer.
  const stream = smtp ? undefined : nodemailer.createTransport({ streamTransport: true, buffer: true });
  // Mailbox file names sort by time; one millisecond apart keeps messages sent in a burst in order.
  let lastDate = 0;

  return {
    async send(message) {
      const { to, template, tenantId, jobId } = message;
      if (!recipient.safeParse(to).success)
        throw new MailDataError("email", ["to: must be an email address"]);
      const rendered = renderEmail(template, message.data);
      // Only ids, never addresses or content: logs outlive the mail and are read by more people.
      const context = { template, ...(tenantId && { tenantId }), ...(jobId && { jobId }) };
      const date = new Date(Math.max(Date.now(), lastDate + 1));
      lastDate = date.getTime();
      const mail = { from, to, date, ...rendered };

      if (smtp) {
        try {
          const info = await smtp.sendMail(mail);
          logger.info({ ...context, messageId: info.messageId, delivered: "smtp" }, "mail sent");
          return { messageId: info.messageId, delivered: "smtp" };
        } catch (err) {
          // Logged here for the SMTP details (reply code, permanent or not); rethrown so the job retries.
          logger.error({ ...context, err }, "mail delivery failed");
          throw err;
        }
      }

      const info = await stream!.sendMail(mail);
      const record: MailboxMessage = {
        messageId: info.messageId,
        date: date.toISOString(),
        from,
        to,
        ...rendered,
        template,
        tenantId: tenantId ?? null,
        jobId: jobId ?? null,
        raw: info.message.toString(),
      };
      await writeAtomically(
        mailDir,
        mailboxFileName(date, info.messageId),
        `${JSON.stringify(record, null, 2)}\n`,
      );
      logger.info({ ...context, messageId: info.messageId, delivered: "mailbox" }, "mail sent");
      return { messageId: info.messageId, delivered: "mailbox" };
    },

    async close() {
      (smtp ?? stream)!.close();
    },
  };
}

export interface ReadMailboxOptions {
  /** Only messages to this address (case-insensitive). */
  to?: string;
  /** At most this many messages. */
  limit?: number;
}

/** Messages in the development mailbox, newest first. A mailbox that does not exist yet is empty. */
export async function readMailbox(
  mailDir: string,
  options: ReadMailboxOptions = {},
): Promise<MailboxMessage[]> {
  const { to, limit = Number.POSITIVE_INFINITY } = options;
  let names: string[];
  try {
    names = await readdir(mailDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  // File names start with the ISO time, so name order is time order; temp files start with a dot.
  const files = names
    .filter((name) => name.endsWith(".json") && !name.startsWith("."))
    .sort()
    .reverse();
  const messages: MailboxMessage[] = [];
  for (const name of files) {
    if (messages.length >= limit) break;
    const parsed = mailboxMessage.safeParse(JSON.parse(await readFile(join(mailDir, name), "utf8")));
    if (!parsed.success)
      throw new Error(`${join(mailDir, name)} is not a mailbox message: ${parsed.error.message}`);
    if (to && parsed.data.to.toLowerCase() !== to.toLowerCase()) continue;
    messages.push(parsed.data);
  }
  return messages;
}

function mailboxFileName(date: Date, messageId: string): string {
  // Colons are not allowed in Windows file names; the name still sorts by time.
  const time = date.toISOString().replaceAll(":", "-");
  const id = messageId.replace(/^<|>$/g, "").replace(/[^\w.@-]/g, "_");
  return `${time}-${id}.json`;
}

/** Write a temp file and rename it: rename is atomic, so a reader sees the whole file or none of it. */
async function writeAtomically(dir: string, name: string, contents: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${name}.${randomUUID()}.tmp`);
  try {
    await writeFile(temp, contents);
    await rename(temp, join(dir, name));
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
