import { ROLES } from "@app/common/roles";
import { z } from "zod";
import type { HandlerDeps, JobHandler } from "./handlers.ts";
import type { QueueDefinition } from "./queues.ts";

/**
 * E-mails identity asks for: verification and password-reset links, and invitations. The event carries
 * the link's secret (identity stores only its hash); the link puts it in the URL fragment, which
 * browsers do not send to servers or in Referer headers.
 */
export const ACCOUNT_MAIL_QUEUES = {
  "email.verify": { retryLimit: 5, retryDelay: 10, expireInSeconds: 60 },
  "email.password-reset": { retryLimit: 5, retryDelay: 10, expireInSeconds: 60 },
  "email.invitation": { retryLimit: 5, retryDelay: 10, expireInSeconds: 60 },
} satisfies Record<string, QueueDefinition>;

/** Outbox topics (identity's accounts and invitations modules) and the queue each goes to. */
export const ACCOUNT_MAIL_ROUTES = {
  "user.email_verification_requested": ["email.verify"],
  "user.password_reset_requested": ["email.password-reset"],
  "invitation.sent": ["email.invitation"],
} as const;

const eventJob = <P extends z.ZodType>(payload: P) =>
  z.object({ eventId: z.uuid(), tenantId: z.uuid(), topic: z.string(), payload });
const token = z.string().min(1).max(500);

const verifyJob = eventJob(z.object({ userId: z.uuid(), email: z.email(), name: z.string(), token }));
const resetJob = eventJob(
  z.object({
    userId: z.uuid(),
    email: z.email(),
    name: z.string(),
    token,
    expiresInMinutes: z.number().int(),
  }),
);
const invitationJob = eventJob(
  z.object({
    invitationId: z.uuid(),
    email: z.email(),
    role: z.enum(ROLES),
    organizationName: z.string(),
    inviterName: z.string(),
    token,
  }),
);

/** `${appUrl}/<page>#token=<secret>`. */
function link(appUrl: string, page: string, secret: string): string {
  const url = new URL(page, appUrl.endsWith("/") ? appUrl : `${appUrl}/`);
  url.hash = `token=${encodeURIComponent(secret)}`;
  return url.href;
}

export function createAccountMailHandlers(
  deps: Pick<HandlerDeps, "mailer" | "appUrl">,
): Record<keyof typeof ACCOUNT_MAIL_QUEUES, JobHandler> {
  return {
    async "email.verify"(data, ctx) {
      const job = verifyJob.parse(data);
      await deps.mailer.send({
        to: job.payload.email,
        template: "verify-email",
        data: { name: job.payload.name, url: link(deps.appUrl, "verify-email", job.payload.token) },
        tenantId: job.tenantId,
        jobId: ctx.jobId,
      });
    },
    async "email.password-reset"(data, ctx) {
      const job = resetJob.parse(data);
      await deps.mailer.send({
        to: job.payload.email,
        template: "password-reset",
        data: {
          name: job.payload.name,
          url: link(deps.appUrl, "reset-password", job.payload.token),
          expiresInMinutes: job.payload.expiresInMinutes,
        },
        tenantId: job.tenantId,
        jobId: ctx.jobId,
      });
    },
    async "email.invitation"(data, ctx) {
      const job = invitationJob.parse(data);
      await deps.mailer.send({
        to: job.payload.email,
        template: "invitation",
        data: {
          inviterName: job.payload.inviterName,
          organizationName: job.payload.organizationName,
          role: job.payload.role,
          url: link(deps.appUrl, "accept-invitation", job.payload.token),
        },
        tenantId: job.tenantId,
        jobId: ctx.jobId,
      });
    },
  };
}
