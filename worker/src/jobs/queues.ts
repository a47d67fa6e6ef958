import type PgBoss from "pg-boss";
import { ACCOUNT_MAIL_QUEUES } from "./account-mail.ts";

/** A queue's retry, timeout and retention policy; every queue has a dead-letter queue `<name>.dead`. */
export interface QueueDefinition {
  /** Tries after the first. */
  retryLimit: number;
  /** Seconds before the first retry; doubled (with jitter) for each further one. */
  retryDelay: number;
  /** A try that runs longer fails (and is retried). */
  expireInSeconds: number;
}

export const QUEUES = {
  /** A stored Stripe webhook event, applied once (stripe-events.ts in @app/billing). */
  "billing.stripe-event": { retryLimit: 8, retryDelay: 5, expireInSeconds: 60 },
  /**
   * Plan limits cached in every service dropped after a subscription change (subscription.changed) or a
   * change of an organization's limit overrides (organization.limits_changed).
   */
  "billing.limits-changed": { retryLimit: 5, retryDelay: 2, expireInSeconds: 30 },
  /** Gateway usage counts from Redis into usage records and Stripe meter events (cron). */
  "usage.flush": { retryLimit: 3, retryDelay: 30, expireInSeconds: 300 },
  "email.welcome": { retryLimit: 5, retryDelay: 10, expireInSeconds: 60 },
  ...ACCOUNT_MAIL_QUEUES,
  "outbox.cleanup": { retryLimit: 2, retryDelay: 60, expireInSeconds: 300 },
  /** GDPR: one archive of a tenant's data; large tenants take a while. */
  "organization.export": { retryLimit: 3, retryDelay: 30, expireInSeconds: 3600 },
  /** GDPR: hard delete of organizations whose grace period has passed (cron, every minute). */
  "organization.purge": { retryLimit: 2, retryDelay: 60, expireInSeconds: 3600 },
} satisfies Record<string, QueueDefinition>;
export type QueueName = keyof typeof QUEUES;

export const deadLetterQueue = (name: string) => `${name}.dead`;

/** Creates (or updates) each queue and its dead-letter queue; safe at every start. */
export async function ensureQueues(boss: PgBoss, queues: Record<string, QueueDefinition>): Promise<void> {
  for (const [name, definition] of Object.entries(queues)) {
    const dead = deadLetterQueue(name);
    // Dead letters wait to be looked at (`npm run jobs -- dead`) and retried; keep them for 30 days.
    if (!(await boss.getQueue(dead)))
      await boss.createQueue(dead, { name: dead, retentionMinutes: 30 * 24 * 60 });
    const options = { name, ...definition, retryBackoff: true, deadLetter: dead };
    if (await boss.getQueue(name)) await boss.updateQueue(name, options);
    else await boss.createQueue(name, options);
  }
}
