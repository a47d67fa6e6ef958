import type { Logger } from "@app/common";
import { z } from "zod";
import type { Mailer } from "../mail/mailer.ts";
import { createAccountMailHandlers } from "./account-mail.ts";
import type { BillingJobs } from "./billing-jobs.ts";
import type { OrganizationJobs } from "./organization-jobs.ts";
import type { QueueName } from "./queues.ts";

export interface JobContext {
  jobId: string;
  /** Carries the job id and tenant id on every line. */
  logger: Logger;
}

export type JobHandler = (data: unknown, ctx: JobContext) => Promise<void>;

export interface HandlerDeps {
  /** Stripe events and usage metering (billing-jobs.ts). */
  billing: Pick<BillingJobs, "processStripeEvent" | "flushUsage" | "invalidateLimits">;
  mailer: Mailer;
  appUrl: string;
  /** Deletes delivered outbox rows older than the given number of days; resolves with how many. */
  pruneOutbox(olderThanDays: number): Promise<number>;
  /** GDPR exports and deletions (organization-jobs.ts). */
  organizations: Pick<OrganizationJobs, "exportOrganization" | "purgeDueOrganizations">;
}

/** What the relay hands a job: the outbox event that caused it. */
const eventJob = <P extends z.ZodType>(payload: P) =>
  z.object({ eventId: z.uuid(), tenantId: z.uuid(), topic: z.string(), payload });

const welcomeJob = eventJob(
  z.object({ userId: z.uuid(), email: z.email(), name: z.string(), organizationName: z.string() }),
);

const exportJob = eventJob(z.object({ exportId: z.uuid() }));

/** Delivered outbox rows are kept this long for inspection, then pruned. */
const OUTBOX_RETENTION_DAYS = 7;

export function createHandlers(deps: HandlerDeps): Record<QueueName, JobHandler> {
  return {
    ...createAccountMailHandlers(deps),
    async "email.welcome"(data, ctx) {
      const job = welcomeJob.parse(data);
      await deps.mailer.send({
        to: job.payload.email,
        template: "welcome",
        data: { name: job.payload.name, organizationName: job.payload.organizationName, appUrl: deps.appUrl },
        tenantId: job.tenantId,
        jobId: ctx.jobId,
      });
    },
    async "billing.stripe-event"(data, ctx) {
      await deps.billing.processStripeEvent(data, ctx.logger);
    },
    async "billing.limits-changed"(data) {
      await deps.billing.invalidateLimits(eventJob(z.unknown()).parse(data).tenantId);
    },
    async "usage.flush"(_data, ctx) {
      const flushed = await deps.billing.flushUsage(ctx.logger);
      if (flushed?.batches) ctx.logger.info(flushed, "usage flushed");
    },
    async "outbox.cleanup"(_data, ctx) {
      const pruned = await deps.pruneOutbox(OUTBOX_RETENTION_DAYS);
      ctx.logger.info({ pruned }, "pruned delivered outbox events");
    },
    async "organization.export"(data) {
      const job = exportJob.parse(data);
      await deps.organizations.exportOrganization(job.tenantId, job.payload.exportId);
    },
    async "organization.purge"(_data, ctx) {
      const purged = await deps.organizations.purgeDueOrganizations();
      if (purged) ctx.logger.info({ purged }, "purged organizations whose deletion was due");
    },
  };
}
