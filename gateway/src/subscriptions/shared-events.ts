import type { InternalContext } from "@app/common";

/**
 * How long an event's answer waits for the group's other subscribers to receive the same event. They
 * normally do within milliseconds (one subgraph event, fanned out to each subscriber's stream); a
 * subscriber whose stream missed it (subscribed as it was sent) must not be handed an old answer for
 * a later event that happens to look the same.
 */
const MAX_AGE_MS = 5_000;

/**
 * What decides the answer of the rest of a subscription's plan, beyond the event and the operation:
 * the variables and the parts of the signed internal context that a subgraph's entity fields read
 * (tenant, roles, credential, scopes, the Host's organization). Not the user: no field reachable from
 * a subscription depends on who is asking beyond those (checked 2026-12-05: identity's `User` and
 * tenants' `Organization` read the tenant and the roles; projects' `Task`, `Project`, `Comment`,
 * `Activity` the tenant; billing's `Organization` fields the tenant and the roles). The viewer's own
 * reads (`me`, `myTasks`, a comment's author check) are root fields, which a subscription's plan never
 * reaches. A subgraph that adds an entity field answering per user must add the user here.
 */
export function sharingKeyOf(context: InternalContext, variables: Record<string, unknown>): string {
  const { principal } = context;
  return JSON.stringify([
    principal?.tenantId ?? null,
    principal ? [...principal.roles].sort() : null,
    principal?.credential ?? null,
    principal ? [...principal.scopes].sort() : null,
    context.hostTenantId ?? null,
    variables,
  ]);
}

interface SharedAnswer<R> {
  answer: Promise<R>;
  /** The subscribers that have not received this event yet. */
  waiting: Set<object>;
  at: number;
}

interface Group<R> {
  subscribers: Set<object>;
  /** By event (its JSON); more than one when the same-looking event came again before all had it. */
  answers: Map<string, SharedAnswer<R>[]>;
}

/**
 * Each event of a subscription answered once per group of subscribers that must get the same answer
 * (one operation and one sharing key), however many receive it: the first subscriber to receive an
 * event computes the answer, the others of the group receive the same promise. Here a "subscriber" is
 * one stream from the subgraph, which federated.ts shares among the subscribers of one user: each user
 * keeps a stream of their own (the subgraph authorises it and ends it on its own, e.g. when their
 * membership is removed), so an event is known to be the same by its content.
 */
export function createAnswerSharing<R>() {
  const groups = new Map<string, Group<R>>();

  function forget(group: Group<R>, event: string, shared: SharedAnswer<R>) {
    const list = group.answers.get(event);
    const rest = list?.filter((s) => s !== shared) ?? [];
    if (rest.length) group.answers.set(event, rest);
    else group.answers.delete(event);
  }

  return {
    /**
     * A subscriber of the group `key`. It takes part once it `join`s (when its stream from the
     * subgraph is open: events sent before that never reach it, and no answer waits for it); until
     * then, and for good once it has left, `answer` computes alone.
     */
    subscriber(key: string) {
      const self = {};
      let group: Group<R> | undefined;
      let left = false;
      return {
        join() {
          if (group || left) return;
          group = groups.get(key);
          if (!group) {
            group = { subscribers: new Set(), answers: new Map() };
            groups.set(key, group);
          }
          group.subscribers.add(self);
        },
        /** The answer to `event` (its JSON), computed by `compute` unless the group has it. */
        answer(event: string, compute: () => Promise<R>): Promise<R> {
          if (!group) return compute();
          const now = performance.now();
          for (const [seen, list] of group.answers) {
            for (const shared of list) {
              if (now - shared.at > MAX_AGE_MS) forget(group, seen, shared);
            }
          }
          const shared = group.answers.get(event)?.find((s) => s.waiting.has(self));
          if (shared) {
            shared.waiting.delete(self);
            if (shared.waiting.size === 0) forget(group, event, shared);
            return shared.answer;
          }
          const answer = compute();
          const waiting = new Set([...group.subscribers].filter((s) => s !== self));
          if (waiting.size)
            group.answers.set(event, [...(group.answers.get(event) ?? []), { answer, waiting, at: now }]);
          return answer;
        },
        leave() {
          left = true;
          if (!group) return;
          group.subscribers.delete(self);
          for (const [event, list] of group.answers) {
            for (const shared of list) {
              shared.waiting.delete(self);
              if (shared.waiting.size === 0) forget(group, event, shared);
            }
          }
          if (group.subscribers.size === 0) groups.delete(key);
          group = undefined;
        },
      };
    },
  };
}
