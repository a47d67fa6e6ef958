import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseEnv } from "@app/common/env";
import { z } from "zod";
import { DEFAULT_MAIL_DIR, type MailboxMessage, readMailbox } from "../mail/mailer.ts";

const USAGE = `Reads the development mailbox: emails the worker wrote instead of sending (no SMTP_URL).

Usage:
  npm run mail [-- list] [--to <address>] [--limit <n>]  list messages, newest first
  npm run mail -- show [n] [--to <address>] [--raw]     print the n-th newest message (default 1)

Options:
  --to <address>  only messages to this address
  --limit <n>     list at most n messages (default 20)
  --raw           show: print the RFC 822 source instead
  -h, --help      this help

Environment:
  MAIL_DIR        mailbox folder (default: ${DEFAULT_MAIL_DIR})
`;

const env = parseEnv(
  z.object({
    MAIL_DIR: z.string().default(DEFAULT_MAIL_DIR),
    // npm runs workspace scripts inside worker/; a relative MAIL_DIR means relative to where it was typed.
    INIT_CWD: z.string().default(process.cwd()),
  }),
);
const mailDir = resolve(env.INIT_CWD, env.MAIL_DIR);

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(2);
}

function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`${what} must be a positive whole number, got "${value}"`);
  return n;
}

const { values, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        to: { type: "string" },
        limit: { type: "string" },
        raw: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    // parseArgs explains unknown options and missing values well; add the usage.
    return fail((err as Error).message);
  }
})();
const [command = "list", ...rest] = positionals;
if (values.help) {
  console.log(USAGE);
} else if (command === "list" && rest.length === 0) {
  const limit = values.limit === undefined ? 20 : positiveInt(values.limit, "--limit");
  const messages = await readMailbox(mailDir, { to: values.to, limit });
  if (messages.length === 0) await explainEmpty();
  else list(messages);
} else if (command === "show" && rest.length <= 1) {
  const n = rest[0] === undefined ? 1 : positiveInt(rest[0], "n");
  const messages = await readMailbox(mailDir, { to: values.to, limit: n });
  const message = messages[n - 1];
  if (message) show(message, values.raw ?? false);
  else if (messages.length === 0) await explainEmpty();
  else console.log(`There is no message ${n}: the mailbox holds ${messages.length}${forTo()}.`);
} else {
  fail(`unknown command: ${positionals.join(" ")}`);
}

function list(messages: MailboxMessage[]) {
  const rows = messages.map((m, i) => [String(i + 1), formatDate(m.date), m.to, m.subject]);
  const header = ["#", "date", "to", "subject"];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((row) => row[col]!.length)));
  for (const row of [header, ...rows]) {
    console.log(
      row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]!))).join("  "),
    );
  }
  console.log(`\n${mailDir}  (npm run mail -- show <#> prints one)`);
}

function show(m: MailboxMessage, raw: boolean) {
  if (raw) {
    console.log(m.raw);
    return;
  }
  const fields = [
    ["Date", formatDate(m.date)],
    ["From", m.from],
    ["To", m.to],
    ["Subject", m.subject],
    ["Template", m.template],
    ["Tenant", m.tenantId ?? "-"],
    ["Job", m.jobId ?? "-"],
    ["Message-ID", m.messageId],
  ];
  for (const [name, value] of fields) console.log(`${`${name}:`.padEnd(12)}${value}`);
  console.log(`\n----- text/plain -----\n${m.text}\n\n----- text/html -----\n${m.html}`);
}

async function explainEmpty() {
  const exists = await stat(mailDir).then(
    () => true,
    () => false,
  );
  if (!exists) console.log(`No mailbox yet at ${mailDir}: nothing has been written to it.`);
  else console.log(`The mailbox at ${mailDir} holds no messages${forTo()}.`);
}

function forTo() {
  return values.to ? ` to ${values.to}` : "";
}

/** `2026-11-23 15:56:00 UTC`: readable, and the same on every machine. */
function formatDate(iso: string) {
  return `${iso.slice(0, 19).replace("T", " ")} UTC`;
}
