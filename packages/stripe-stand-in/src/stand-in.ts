import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

/**
 * A local stand-in for the part of Stripe's API the platform calls: customers, Checkout Sessions,
 * subscriptions (retrieve, update with proration, cancel), billing-portal sessions, invoices and billing
 * meter events. State lives in memory. Every request is recorded, Idempotency-Key is honoured as Stripe
 * does (same key and parameters: the first response again; same key, other parameters: 400), and the
 * test helpers play the customer's side (paying a checkout, a failed payment) and build signed webhook
 * deliveries. The platform reaches it through the real `stripe` SDK (`host`, `port`, `protocol`).
 */

type Json = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  params: Json;
  idempotencyKey: string | null;
  /** True when the answer was the stored response of an earlier request with the same key. */
  replayed: boolean;
  status: number;
}

export interface StandInOptions {
  /** Default 0 (any free port). */
  port?: number;
  host?: string;
  /** Where `deliver` and the checkout page post events; the secret signs them (`whsec_...`). */
  webhook?: { url: string; secret: string };
}

export interface StripeStandIn {
  /** `http://host:port`: give it to the platform as STRIPE_API_BASE. */
  url: string;
  requests: RecordedRequest[];
  customers: Map<string, Json>;
  checkoutSessions: Map<string, Json>;
  subscriptions: Map<string, Json>;
  invoices: Map<string, Json>;
  meterEvents: Json[];
  /** Every subscription change with its proration behaviour, in order. */
  prorations: Array<{ subscription: string; from: string; to: string; behavior: string }>;
  /** The customer pays: the session completes and an active subscription with a paid invoice exists. */
  completeCheckout(sessionId: string): { session: Json; subscription: Json };
  /** The renewal payment fails: the subscription goes past_due, with an open invoice. */
  failPayment(subscriptionId: string): { subscription: Json; invoice: Json };
  /** A later retry succeeds: the subscription is active again, the invoice paid. */
  payInvoice(invoiceId: string): { subscription: Json; invoice: Json };
  /** The period ended for a subscription set to cancel at its end: it is canceled now. */
  endPeriod(subscriptionId: string): Json;
  /** A Stripe event object (`evt_...`) around a copy of `object`, as Stripe would send it. */
  event(type: string, object: Json, created?: number): Json;
  /** A webhook delivery of `event`, signed with `secret` the way Stripe signs (Stripe-Signature). */
  signed(event: Json, secret: string): { body: string; signature: string };
  /** Posts `event` to the configured webhook URL, signed; resolves with the HTTP status. */
  deliver(event: Json): Promise<number>;
  close(): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);
const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`;
const DAY = 86_400;

/** Stripe's form encoding (`items[0][price]=x&metadata[k]=v`) into nested objects and arrays. */
export function parseForm(body: string): Json {
  const root: Json = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const parts = rawKey.replace(/\]/g, "").split("[");
    let node: Record<string, unknown> = root;
    parts.forEach((part, index) => {
      if (index === parts.length - 1) {
        node[part] = value;
        return;
      }
      const nextIsIndex = /^\d+$/.test(parts[index + 1]!);
      node[part] ??= nextIsIndex ? [] : {};
      node = node[part] as Record<string, unknown>;
    });
  }
  return root;
}

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const list = (data: Json[], url: string) => ({ object: "list", data, has_more: false, url });

export async function startStripeStandIn(options: StandInOptions = {}): Promise<StripeStandIn> {
  const customers = new Map<string, Json>();
  const checkoutSessions = new Map<string, Json>();
  const subscriptions = new Map<string, Json>();
  const invoices = new Map<string, Json>();
  const portalSessions = new Map<string, Json>();
  const meterEvents: Json[] = [];
  const meterIdentifiers = new Set<string>();
  const prorations: StripeStandIn["prorations"] = [];
  const requests: RecordedRequest[] = [];
  const idempotent = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  let baseUrl = "";

  const need = <T>(map: Map<string, T>, id: string, what: string): T => {
    const found = map.get(id);
    if (!found)
      throw new StripeApiError(404, "invalid_request_error", `No such ${what}: '${id}'`, "resource_missing");
    return found;
  };

  function invoiceFor(subscription: Json, status: "paid" | "open", reason: string, amount: number): Json {
    const invoice: Json = {
      id: newId("in"),
      object: "invoice",
      customer: subscription.customer,
      status,
      amount_due: amount,
      amount_paid: status === "paid" ? amount : 0,
      currency: "usd",
      billing_reason: reason,
      attempted: true,
      created: now(),
      hosted_invoice_url: `${baseUrl}/invoices/${randomBytes(6).toString("hex")}`,
      parent: { type: "subscription_details", subscription_details: { subscription: subscription.id } },
      period_start: subscription.current_period_start,
      period_end: subscription.current_period_end,
    };
    invoices.set(invoice.id as string, invoice);
    return invoice;
  }

  function newSubscription(customer: string, price: string, metadata: Json): Json {
    const start = now();
    const end = start + (price.includes("year") ? 365 : 30) * DAY;
    const id = newId("sub");
    const subscription: Json = {
      id,
      object: "subscription",
      customer,
      status: "active",
      cancel_at_period_end: false,
      canceled_at: null,
      created: start,
      metadata,
      items: {
        object: "list",
        data: [
          {
            id: newId("si"),
            object: "subscription_item",
            price: { id: price, object: "price" },
            quantity: 1,
            current_period_start: start,
            current_period_end: end,
          },
        ],
      },
      // Not in Stripe's newest API shape (periods moved to items), kept for readers of either.
      current_period_start: start,
      current_period_end: end,
    };
    subscriptions.set(id, subscription);
    return subscription;
  }

  const firstItem = (subscription: Json) => (subscription.items as { data: Json[] }).data[0]!;

  const routes: Array<[string, RegExp, (params: Json, match: RegExpMatchArray) => unknown]> = [
    [
      "POST",
      /^\/v1\/customers$/,
      (params) => {
        const customer = {
          id: newId("cus"),
          object: "customer",
          created: now(),
          email: params.email ?? null,
          name: params.name ?? null,
          metadata: params.metadata ?? {},
        };
        customers.set(customer.id, customer);
        return customer;
      },
    ],
    ["GET", /^\/v1\/customers\/([^/]+)$/, (_p, m) => need(customers, m[1]!, "customer")],
    [
      "POST",
      /^\/v1\/checkout\/sessions$/,
      (params) => {
        const customer = need(customers, String(params.customer), "customer");
        const items = params.line_items as Array<{ price?: string }> | undefined;
        if (params.mode !== "subscription" || !items?.[0]?.price)
          throw new StripeApiError(
            400,
            "invalid_request_error",
            "mode=subscription with one line item is required",
          );
        const id = newId("cs");
        const session = {
          id,
          object: "checkout.session",
          mode: "subscription",
          status: "open",
          customer: customer.id,
          client_reference_id: params.client_reference_id ?? null,
          metadata: params.metadata ?? {},
          subscription: null,
          success_url: params.success_url,
          cancel_url: params.cancel_url,
          url: `${baseUrl}/checkout/${id}`,
          created: now(),
          // Kept for completeCheckout; not part of Stripe's session object.
          _price: items[0].price,
          _subscriptionMetadata: (params.subscription_data as Json | undefined)?.metadata ?? {},
        };
        checkoutSessions.set(id, session);
        return publicSession(session);
      },
    ],
    [
      "GET",
      /^\/v1\/checkout\/sessions\/([^/]+)$/,
      (_p, m) => publicSession(need(checkoutSessions, m[1]!, "checkout.session")),
    ],
    ["GET", /^\/v1\/subscriptions\/([^/]+)$/, (_p, m) => need(subscriptions, m[1]!, "subscription")],
    [
      "POST",
      /^\/v1\/subscriptions\/([^/]+)$/,
      (params, m) => {
        const subscription = need(subscriptions, m[1]!, "subscription");
        if (subscription.status === "canceled")
          throw new StripeApiError(
            400,
            "invalid_request_error",
            "A canceled subscription can only update its cancellation_details and metadata.",
          );
        const items = params.items as Array<{ id?: string; price?: string }> | undefined;
        if (items?.[0]?.price) {
          const item = firstItem(subscription);
          if (items[0].id && items[0].id !== item.id)
            throw new StripeApiError(
              400,
              "invalid_request_error",
              `No such subscription item: '${items[0].id}'`,
            );
          const from = (item.price as Json).id as string;
          const behavior = String(params.proration_behavior ?? "create_prorations");
          prorations.push({ subscription: subscription.id as string, from, to: items[0].price, behavior });
          item.price = { id: items[0].price, object: "price" };
          if (behavior === "always_invoice") invoiceFor(subscription, "paid", "subscription_update", 0);
        }
        if (params.cancel_at_period_end !== undefined) {
          subscription.cancel_at_period_end = params.cancel_at_period_end === "true";
          subscription.canceled_at = subscription.cancel_at_period_end ? now() : null;
        }
        if (params.metadata)
          subscription.metadata = { ...(subscription.metadata as Json), ...(params.metadata as Json) };
        return subscription;
      },
    ],
    [
      "DELETE",
      /^\/v1\/subscriptions\/([^/]+)$/,
      (params, m) => {
        const subscription = need(subscriptions, m[1]!, "subscription");
        prorations.push({
          subscription: subscription.id as string,
          from: (firstItem(subscription).price as Json).id as string,
          to: "canceled",
          behavior: params.prorate === "true" ? "create_prorations" : "none",
        });
        subscription.status = "canceled";
        subscription.canceled_at = now();
        subscription.ended_at = now();
        return subscription;
      },
    ],
    [
      "POST",
      /^\/v1\/billing_portal\/sessions$/,
      (params) => {
        const customer = need(customers, String(params.customer), "customer");
        const session = {
          id: newId("bps"),
          object: "billing_portal.session",
          customer: customer.id,
          return_url: params.return_url ?? null,
          url: `${baseUrl}/portal/${randomBytes(8).toString("hex")}`,
          created: now(),
        };
        portalSessions.set(session.id, session);
        return session;
      },
    ],
    [
      "GET",
      /^\/v1\/invoices$/,
      (params) => {
        const limit = Math.min(Number(params.limit ?? 10), 100);
        const data = [...invoices.values()]
          .filter((i) => !params.customer || i.customer === params.customer)
          .sort((a, b) => (b.created as number) - (a.created as number))
          .slice(0, limit);
        return list(data, "/v1/invoices");
      },
    ],
    [
      "POST",
      /^\/v1\/billing\/meter_events$/,
      (params) => {
        const identifier = String(params.identifier ?? newId("mev"));
        // Stripe enforces unique identifiers over a rolling window of at least 24 hours.
        if (meterIdentifiers.has(identifier))
          throw new StripeApiError(
            400,
            "invalid_request_error",
            `An event already exists with identifier ${identifier}.`,
            "resource_already_exists",
          );
        const payload = params.payload as Json | undefined;
        if (!params.event_name || !payload?.stripe_customer_id || !/^\d+$/.test(String(payload.value)))
          throw new StripeApiError(
            400,
            "invalid_request_error",
            "event_name, payload[stripe_customer_id] and a whole payload[value] are required",
          );
        meterIdentifiers.add(identifier);
        const event = {
          object: "billing.meter_event",
          event_name: params.event_name,
          identifier,
          payload,
          timestamp: Number(params.timestamp ?? now()),
          created: now(),
        };
        meterEvents.push(event);
        return event;
      },
    ],
  ];

  function publicSession(session: Json): Json {
    const { _price, _subscriptionMetadata, ...visible } = session;
    return visible;
  }

  function completeCheckout(sessionId: string) {
    const session = need(checkoutSessions, sessionId, "checkout.session");
    if (session.status !== "open") throw new Error(`checkout session ${sessionId} is ${session.status}`);
    const subscription = newSubscription(
      session.customer as string,
      session._price as string,
      session._subscriptionMetadata as Json,
    );
    invoiceFor(subscription, "paid", "subscription_create", 0);
    session.status = "complete";
    session.payment_status = "paid";
    session.subscription = subscription.id;
    return { session: publicSession(session), subscription };
  }

  const signed = (event: Json, secret: string) => {
    const body = JSON.stringify(event, null, 2);
    return { body, signature: Stripe.webhooks.generateTestHeaderString({ payload: body, secret }) };
  };

  async function deliver(event: Json): Promise<number> {
    if (!options.webhook) throw new Error("no webhook configured");
    const { body, signature } = signed(event, options.webhook.secret);
    const response = await fetch(options.webhook.url, {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": signature },
      body,
    });
    await response.body?.cancel();
    return response.status;
  }

  const event = (type: string, object: Json, created = now()): Json => ({
    id: newId("evt"),
    object: "event",
    api_version: "2026-10-28.endive",
    created,
    type,
    livemode: false,
    pending_webhooks: 1,
    data: { object: structuredClone(object) },
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const send = (status: number, payload: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(payload));

    // The hosted checkout page, for local development: opening it pays and announces the checkout.
    const checkout = url.pathname.match(/^\/checkout\/([^/]+)$/);
    if (req.method === "GET" && checkout) {
      try {
        const { session, subscription } = completeCheckout(checkout[1]!);
        if (options.webhook) {
          await deliver(event("checkout.session.completed", session));
          await deliver(event("customer.subscription.created", subscription));
        }
        res.writeHead(302, { location: String(session.success_url ?? "/") }).end();
      } catch (error) {
        send(400, { error: { message: (error as Error).message } });
      }
      return;
    }

    const params = req.method === "GET" ? parseForm(url.search.slice(1)) : parseForm(body);
    const key = (req.headers["idempotency-key"] as string | undefined) ?? null;
    const record = (status: number, replayed: boolean) =>
      requests.push({
        method: req.method ?? "",
        path: url.pathname,
        params,
        idempotencyKey: key,
        replayed,
        status,
      });

    if (!/^Bearer sk_/.test(req.headers.authorization ?? "")) {
      record(401, false);
      return send(401, { error: { type: "invalid_request_error", message: "Invalid API Key provided." } });
    }
    const fingerprint = createHash("sha256").update(`${req.method} ${url.pathname} ${body}`).digest("hex");
    const stored = key && req.method !== "GET" ? idempotent.get(key) : undefined;
    if (stored) {
      if (stored.fingerprint !== fingerprint) {
        record(400, false);
        return send(400, {
          error: {
            type: "idempotency_error",
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          },
        });
      }
      record(stored.status, true);
      res.setHeader("idempotent-replayed", "true");
      return send(stored.status, stored.body);
    }

    let status = 200;
    let payload: unknown;
    const route = routes.find(([method, path]) => method === req.method && path.test(url.pathname));
    try {
      if (!route)
        throw new StripeApiError(
          404,
          "invalid_request_error",
          `Unrecognized request URL (${req.method}: ${url.pathname}).`,
        );
      payload = structuredClone(route[2](params, url.pathname.match(route[1])!));
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      payload = {
        error: { type: error.type, message: error.message, ...(error.code ? { code: error.code } : {}) },
      };
    }
    // Stripe saves a keyed result once the endpoint ran; a request refused by validation is not saved.
    if (key && req.method !== "GET" && status < 400)
      idempotent.set(key, { fingerprint, status, body: payload });
    record(status, false);
    send(status, payload);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { type: "api_error", message: String(error) } }));
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve),
  );
  const address = server.address() as AddressInfo;
  baseUrl = `http://${options.host ?? "127.0.0.1"}:${address.port}`;

  return {
    url: baseUrl,
    requests,
    customers,
    checkoutSessions,
    subscriptions,
    invoices,
    meterEvents,
    prorations,
    completeCheckout,
    failPayment(subscriptionId) {
      const subscription = need(subscriptions, subscriptionId, "subscription");
      subscription.status = "past_due";
      const invoice = invoiceFor(subscription, "open", "subscription_cycle", 2900);
      return { subscription, invoice };
    },
    payInvoice(invoiceId) {
      const invoice = need(invoices, invoiceId, "invoice");
      invoice.status = "paid";
      invoice.amount_paid = invoice.amount_due;
      const parent = invoice.parent as { subscription_details: { subscription: string } };
      const subscription = need(subscriptions, parent.subscription_details.subscription, "subscription");
      subscription.status = "active";
      return { subscription, invoice };
    },
    endPeriod(subscriptionId) {
      const subscription = need(subscriptions, subscriptionId, "subscription");
      subscription.status = "canceled";
      subscription.ended_at = now();
      return subscription;
    },
    event,
    signed,
    deliver,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
