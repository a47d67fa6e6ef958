import { appError, ErrorCode, requirePrincipal } from "@app/common";
import { type EventBus, type EventEnvelope, MEMBERSHIP_REMOVED_TOPIC } from "@app/common/events";
import { Repeater } from "graphql-yoga";
import type { Context } from "../../context.ts";

/** Events a subscriber may have waiting before it counts as too slow and is ended. */
const MAX_PENDING_EVENTS = 256;

/** The reason of the error that ends a subscriber whose membership was removed (the gateway closes with 4403). */
export const MEMBERSHIP_REVOKED = "MEMBERSHIP_REVOKED";
/** The reason of the error that ends a subscriber which fell too far behind (the gateway closes with 4413). */
export const SLOW_CONSUMER = "SLOW_CONSUMER";

/**
 * The events of the caller's tenant with one topic that pass `match`, as an async iterable for a
 * Subscription resolver. The tenant comes from the verified context, never from arguments, so a
 * subscriber can never receive another tenant's events. A subscriber that falls MAX_PENDING_EVENTS
 * behind is ended with an error instead of buffering without bound; one whose membership is removed
 * is ended with FORBIDDEN (reason MEMBERSHIP_REVOKED).
 */
export function watchTenantEvents<P>(
  ctx: Pick<Context, "principal" | "requestId" | "logger">,
  bus: EventBus,
  topic: string,
  match: (payload: P) => boolean,
  maxPending = MAX_PENDING_EVENTS,
): AsyncIterable<P> {
  const { tenantId, userId } = requirePrincipal(ctx);
  return new Repeater<P>(async (push, stop) => {
    let pending = 0;
    const stopListening = await bus.listen(tenantId, (event: EventEnvelope) => {
      if (
        event.topic === MEMBERSHIP_REMOVED_TOPIC &&
        (event.payload as { userId?: string })?.userId === userId
      ) {
        stop(
          appError(ErrorCode.FORBIDDEN, "You are no longer a member of this organization.", {
            reason: MEMBERSHIP_REVOKED,
          }),
        );
        return;
      }
      if (event.topic !== topic) return;
      const payload = event.payload as P;
      if (!match(payload)) return;
      if (pending >= maxPending) {
        stop(
          appError(ErrorCode.RATE_LIMITED, "Too many events waiting for this subscriber; subscribe again.", {
            reason: SLOW_CONSUMER,
          }),
        );
        return;
      }
      pending++;
      void push(payload).then(() => {
        pending--;
      });
    });
    await stop;
    stopListening();
  });
}
