export * from "./limits.ts";
export * from "./limits-cache.ts";
export * from "./stripe.ts";
export * from "./stripe-events.ts";
export * from "./subscription-sync.ts";
export * from "./usage.ts";
