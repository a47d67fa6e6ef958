import type { Logger } from "@app/common";
import { isUuid, newId, Prisma, type PrismaClient } from "@app/db";
import type { Redis } from "ioredis";
import { isAlreadyExists, isInvalidRequest, type Stripe } from "./stripe.ts";

/**
 * Usage metering. The gateway counts each tenant's operations in Redis: a monthly total (what the plan
 * limit is checked against) and a pending count per (tenant, month) in one hash. The worker's flush
 * renames the pending hash to a numbered batch (atomically: counting goes on into a fresh hash),
 * writes the batch into usage_records keyed by (tenant, period, batch id), and only then deletes it.
 * A flush that dies anywhere leaves the batch in Redis and the next one writes it again, which the key
 * turns into a no-op: no count is lost and none is counted twice. Reporting to Stripe's meter events is
 * a separate step over records not yet reported, with the record's key as Stripe's identifier and
 * idempotency key, so a report repeated after a crash is not counted twice by Stripe either.
 */

export const USAGE_PENDING_KEY = "usage:pending";
export const USAGE_BATCHES_KEY = "usage:batches";
const batchKey = (batchId: string) => `usage:batch:${batchId}`;
const monthKey = (tenantId: string, period: string) => `usage:month:${tenantId}:${period}`;

/** The calendar month (UTC) an instant falls in: `YYYY-MM`. */
export const usagePeriod = (at = new Date()) => at.toISOString().slice(0, 7);
export const USAGE_PERIOD_PATTERN = /^\d{4}-(0[1-9]|1[0-2])$/;

/** Monthly totals live a little longer than a month; the flushed records are the lasting account. */
const MONTH_TTL_SECONDS = 40 * 86_400;

/**
 * Counts one operation unless the month's total already reached `limit` (-1: no limit). Returns the new
 * total, or -1 when refused (a refused operation is not counted).
 */
const COUNT = `
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[2])
if limit >= 0 and total >= limit then return -1 end
total = redis.call('INCR', KEYS[1])
if total == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return total`;

/** Moves the pending counts into a new batch and lists it, or does nothing when nothing is pending. */
const SNAPSHOT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('SADD', KEYS[3], ARGV[1])
return 1`;

export async function countOperation(
  redis: Redis,
  tenantId: string,
  limit: number | null,
  at = new Date(),
): Promise<{ allowed: boolean; total: number }> {
  const period = usagePeriod(at);
  const total = Number(
    await redis.eval(
      COUNT,
      2,
      monthKey(tenantId, period),
      USAGE_PENDING_KEY,
      `${tenantId}|${period}`,
      limit ?? -1,
      MONTH_TTL_SECONDS,
    ),
  );
  return total < 0 ? { allowed: false, total: limit ?? 0 } : { allowed: true, total };
}

export interface FlushDeps {
  redis: Redis;
  /** Cross-tenant on purpose: one flush writes every tenant's records. */
  prisma: PrismaClient;
  /** Null in local mode: records are kept, nothing is reported. */
  stripe: Stripe | null;
  meterEventName: string;
  logger: Logger;
  /** Tests: stop after a step, as a crash would. */
  crashAfter?: "snapshot" | "write";
}

export interface FlushResult {
  batches: number;
  records: number;
  operations: number;
  reported: number;
}

/** One flush: snapshot, write every listed batch (this one and any a crashed flush left), report. */
export async function flushUsage(deps: FlushDeps): Promise<FlushResult> {
  const { redis, prisma, logger } = deps;
  const snapshotId = newId();
  await redis.eval(SNAPSHOT, 3, USAGE_PENDING_KEY, batchKey(snapshotId), USAGE_BATCHES_KEY, snapshotId);
  const result: FlushResult = { batches: 0, records: 0, operations: 0, reported: 0 };
  if (deps.crashAfter === "snapshot") throw new Error("crash injected after the snapshot");
  for (const batchId of await redis.smembers(USAGE_BATCHES_KEY)) {
    const counts = await redis.hgetall(batchKey(batchId));
    for (const [field, value] of Object.entries(counts)) {
      const [tenantId, period] = field.split("|");
      const operations = Number(value);
      if (
        !tenantId ||
        !isUuid(tenantId) ||
        !period ||
        !USAGE_PERIOD_PATTERN.test(period) ||
        !(operations > 0)
      ) {
        logger.warn({ field, value }, "usage flush: dropped a malformed count");
        continue;
      }
      try {
        const written = await prisma.usageRecord.createMany({
          data: [{ tenantId, period, batchId, operations }],
          skipDuplicates: true,
        });
        result.records += written.count;
        result.operations += written.count ? operations : 0;
      } catch (error) {
        // The organization was deleted since: its usage goes with it.
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003") {
          logger.info({ tenantId, operations }, "usage flush: organization gone, count dropped");
          continue;
        }
        throw error;
      }
    }
    if (deps.crashAfter === "write") throw new Error("crash injected after writing the batch");
    await redis.multi().del(batchKey(batchId)).srem(USAGE_BATCHES_KEY, batchId).exec();
    result.batches += 1;
  }
  if (deps.stripe) result.reported = await reportUsage(deps, deps.stripe);
  return result;
}

/** Records per report pass; the next flush takes the rest. */
const REPORT_BATCH = 500;
/** Stripe takes meter events up to 35 days old; older records stay unreported (they are kept). */
const REPORT_WINDOW_MS = 35 * 86_400_000 - 3_600_000;

/** Sends records not yet reported, of tenants with a Stripe customer, as billing meter events. */
async function reportUsage(deps: FlushDeps, stripe: Stripe): Promise<number> {
  const records = await deps.prisma.usageRecord.findMany({
    where: {
      reportedAt: null,
      recordedAt: { gte: new Date(Date.now() - REPORT_WINDOW_MS) },
      organization: { billingCustomer: { isNot: null } },
    },
    include: { organization: { select: { billingCustomer: { select: { stripeCustomerId: true } } } } },
    take: REPORT_BATCH,
  });
  let reported = 0;
  for (const record of records) {
    const customer = record.organization.billingCustomer?.stripeCustomerId;
    if (!customer) continue;
    const identifier = `usage_${record.tenantId}_${record.period}_${record.batchId}`;
    try {
      await stripe.billing.meterEvents.create(
        {
          event_name: deps.meterEventName,
          identifier,
          timestamp: Math.floor(record.recordedAt.getTime() / 1000),
          payload: { stripe_customer_id: customer, value: String(record.operations) },
        },
        { idempotencyKey: identifier },
      );
    } catch (error) {
      // Refused for this record alone (a customer deleted in Stripe, say): the others still go, and it
      // is tried again on the next flush. Anything else (Stripe unreachable) fails the job, which retries.
      if (isInvalidRequest(error) && !isAlreadyExists(error)) {
        deps.logger.warn({ err: error, identifier }, "usage record refused by Stripe");
        continue;
      }
      // Sent before (the mark below was lost to a crash): Stripe already counts it.
      if (!isAlreadyExists(error)) throw error;
    }
    await deps.prisma.usageRecord.update({
      where: {
        tenantId_period_batchId: {
          tenantId: record.tenantId,
          period: record.period,
          batchId: record.batchId,
        },
      },
      data: { reportedAt: new Date() },
    });
    reported += 1;
  }
  return reported;
}
