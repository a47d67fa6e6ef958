// `npm run stripe:stand-in`: the Stripe stand-in for local development. Point the platform at it with
// the two settings it prints; with --webhook-url, opening a checkout URL pays it and posts the signed
// events to the billing service, as Stripe would.
import { parseArgs } from "node:util";
import { startStripeStandIn } from "./stand-in.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "12111" },
    "webhook-url": { type: "string", default: "http://localhost:4004/webhooks/stripe" },
    "webhook-secret": { type: "string", default: "whsec_stand_in_local_development" },
  },
});
const standIn = await startStripeStandIn({
  port: Number(values.port),
  webhook: { url: values["webhook-url"], secret: values["webhook-secret"] },
});
console.log(`Stripe stand-in on ${standIn.url}; run the platform with:
  STRIPE_SECRET_KEY=sk_test_stand_in STRIPE_API_BASE=${standIn.url} STRIPE_WEBHOOK_SECRET=${values["webhook-secret"]}
Checkout URLs it hands out complete the payment when opened and post the events to ${values["webhook-url"]}.`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void standIn.close());
