import { ROLES, type Role } from "@app/common/roles";
import { text } from "@app/common/validation";
import { z } from "zod";

const PRODUCT = "CODITECT";

// Names end up in the Subject header as well as the body: one line only, so a value can never add a header.
const line = text(1, 200).refine((s) => !/[\r\n]/.test(s), "must be a single line");
// http(s) only: a `javascript:` or `data:` URL in a button would run in the reader's mail client.
const link = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).max(2000);

export const welcomeData = z.object({ name: line, organizationName: line, appUrl: link });
export const verifyEmailData = z.object({ name: line, url: link });
export const passwordResetData = z.object({
  name: line,
  url: link,
  expiresInMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60),
});
export const invitationData = z.object({
  inviterName: line,
  organizationName: line,
  role: z.enum(ROLES),
  url: link,
});

/** The data each template needs, validated by {@link renderEmail} before anything is rendered. */
export const templateSchemas = {
  welcome: welcomeData,
  "verify-email": verifyEmailData,
  "password-reset": passwordResetData,
  invitation: invitationData,
} as const;

export type TemplateName = keyof typeof templateSchemas;
/** What a caller passes for template `T` (before trimming and other zod transforms). */
export type TemplateData<T extends TemplateName> = z.input<(typeof templateSchemas)[T]>;

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

/**
 * Thrown when a message cannot be built from what a job carries. Retrying cannot fix it, so a job
 * handler can fail the job for good instead of retrying; the message names every bad field.
 */
export class MailDataError extends Error {
  override name = "MailDataError";
  constructor(
    readonly subject: string,
    readonly problems: string[],
  ) {
    super(`invalid ${subject}: ${problems.join("; ")}`);
  }
}

/** Validates `data` for `template` and renders subject, plain text and HTML. */
export function renderEmail<T extends TemplateName>(template: T, data: TemplateData<T>): RenderedEmail {
  if (!Object.hasOwn(templateSchemas, template)) {
    throw new MailDataError("email template", [`unknown template "${template}"`]);
  }
  const result = templateSchemas[template].safeParse(data);
  if (!result.success) {
    throw new MailDataError(
      `data for email template "${template}"`,
      result.error.issues.map((issue) => `${issue.path.join(".") || "(data)"}: ${issue.message}`),
    );
  }
  // The schema for `template` produced this data, so it fits that template's renderer.
  return layout((renderers[template] as (data: unknown) => Content)(result.data));
}

/**
 * What a template says, as plain strings. Templates never write HTML: the layout escapes every value,
 * so a template cannot forget to.
 */
interface Content {
  subject: string;
  heading: string;
  paragraphs: string[];
  action: { label: string; url: string };
  footnote?: string;
}

const ROLE_PHRASE: Record<Role, string> = {
  OWNER: "an owner",
  ADMIN: "an admin",
  MEMBER: "a member",
  VIEWER: "a viewer",
};

const renderers: { [T in TemplateName]: (data: z.output<(typeof templateSchemas)[T]>) => Content } = {
  welcome: ({ name, organizationName, appUrl }) => ({
    subject: `Welcome to ${PRODUCT}`,
    heading: `Welcome, ${name}`,
    paragraphs: [`Your organization ${organizationName} is ready. Sign in to create your first project.`],
    action: { label: `Open ${PRODUCT}`, url: appUrl },
  }),
  "verify-email": ({ name, url }) => ({
    subject: "Confirm your email address",
    heading: `Hi ${name}`,
    paragraphs: ["Please confirm your email address so we know this account is yours."],
    action: { label: "Confirm email address", url },
    footnote: `If you did not create a ${PRODUCT} account, you can ignore this email.`,
  }),
  "password-reset": ({ name, url, expiresInMinutes }) => ({
    subject: `Reset your ${PRODUCT} password`,
    heading: `Hi ${name}`,
    paragraphs: [
      "We received a request to reset your password.",
      `This link expires in ${expiresInMinutes} ${expiresInMinutes === 1 ? "minute" : "minutes"}.`,
    ],
    action: { label: "Reset password", url },
    footnote: "If you did not ask for this, ignore this email: your password stays the same.",
  }),
  invitation: ({ inviterName, organizationName, role, url }) => ({
    subject: `${inviterName} invited you to ${organizationName} on ${PRODUCT}`,
    heading: `Join ${organizationName} on ${PRODUCT}`,
    paragraphs: [`${inviterName} invited you to join ${organizationName} as ${ROLE_PHRASE[role]}.`],
    action: { label: "Accept invitation", url },
    footnote: "If you were not expecting this invitation, you can ignore this email.",
  }),
};

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The shared frame: the same content as plain text and as HTML with inline styles (mail clients drop <style>). */
function layout(content: Content): RenderedEmail {
  const { subject, heading, paragraphs, action, footnote } = content;
  const text = [
    heading,
    ...paragraphs,
    `${action.label}: ${action.url}`,
    ...(footnote ? [footnote] : []),
    `-- \n${PRODUCT}`,
  ].join("\n\n");

  const e = escapeHtml;
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${e(subject)}</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2933">
<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:32px">
<p style="margin:0 0 24px;font-weight:bold;letter-spacing:2px;color:#3b5bdb">${PRODUCT}</p>
<h1 style="margin:0 0 16px;font-size:22px">${e(heading)}</h1>
${paragraphs.map((p) => `<p style="margin:0 0 16px;line-height:1.5">${e(p)}</p>`).join("\n")}
<p style="margin:24px 0"><a href="${e(action.url)}" style="display:inline-block;padding:12px 20px;background:#3b5bdb;color:#ffffff;text-decoration:none;border-radius:6px">${e(action.label)}</a></p>
<p style="margin:0 0 16px;font-size:13px;color:#52606d">If the button does not work, paste this link into your browser:<br>${e(action.url)}</p>
${footnote ? `<p style="margin:0;font-size:13px;color:#52606d">${e(footnote)}</p>\n` : ""}</div>
<p style="text-align:center;font-size:12px;color:#7b8794">${PRODUCT}</p>
</body>
</html>
`;
  return { subject, text, html };
}
