import { tenantChannel } from "@app/common/events";
import type { Redis } from "ioredis";

/** The stream a tenant's events are appended to; the `{tenant}` hash tag keeps a tenant on one cluster slot. */
export const tenantStreamKey = (tenantId: string) => `events:{${tenantId}}`;

/** How much history each tenant's stream keeps (approximate trimming, cheap). */
const STREAM_MAX_LENGTH = 10_000;

/**
 * Appends a tenant's events to its stream with explicit ids `0-<seq>` and publishes each, in one script,
 * in order, stopping at the first failure. Redis refuses an id not above the stream's last one, so a
 * relay that delivered events and died before marking them delivered does not announce them twice:
 * the replays are refused and skipped. ARGV: max length, channel, then id and JSON per event.
 */
const ANNOUNCE = `
local fresh = 0
for i = 3, #ARGV, 2 do
  local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'event', ARGV[i + 1])
  if type(added) == 'table' and added.err then
    if not string.find(added.err, 'equal or smaller', 1, true) then return redis.error_reply(added.err) end
  else
    redis.call('PUBLISH', ARGV[2], ARGV[i + 1])
    fresh = fresh + 1
  end
end
return fresh
`;

export interface DeliverableEvent {
  tenantId: string;
  seq: bigint;
  id: string;
  topic: string;
  payload: unknown;
  createdAt: Date;
}

/** The JSON every consumer (stream reader or pub/sub subscriber) receives. */
export function envelope(event: DeliverableEvent): string {
  return JSON.stringify({
    id: event.id,
    tenantId: event.tenantId,
    seq: event.seq.toString(),
    topic: event.topic,
    payload: event.payload,
    createdAt: event.createdAt.toISOString(),
  });
}

type AnnouncingRedis = Redis & {
  announce(stream: string, maxLength: number, channel: string, ...idsAndEvents: string[]): Promise<number>;
};

export function createRedisSink(redis: Redis): EventSink {
  redis.defineCommand("announce", { numberOfKeys: 1, lua: ANNOUNCE });
  const client = redis as AnnouncingRedis;
  return {
    /** Announces one tenant's events, in `seq` order; resolves with how many were new (not replays). */
    announce(tenantId: string, events: DeliverableEvent[]): Promise<number> {
      const args = events.flatMap((event) => [`0-${event.seq}`, envelope(event)]);
      return client.announce(tenantStreamKey(tenantId), STREAM_MAX_LENGTH, tenantChannel(tenantId), ...args);
    },
  };
}
/** Where the relay announces events for realtime subscribers. */
export interface EventSink {
  /** Announces one tenant's events, in `seq` order; resolves with how many were new. */
  announce(tenantId: string, events: DeliverableEvent[]): Promise<number>;
}
