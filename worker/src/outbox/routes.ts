import { ACCOUNT_MAIL_ROUTES } from "../jobs/account-mail.ts";

/**
 * Which job queues an event is handed to, by topic. Every event also goes to the tenant's Redis stream
 * and channel (when Redis is configured) for realtime subscribers.
 */
export const JOB_ROUTES: Readonly<Record<string, readonly string[]>> = {
  "billing.stripe_event": ["billing.stripe-event"],
  "subscription.changed": ["billing.limits-changed"],
  "organization.limits_changed": ["billing.limits-changed"],
  "user.signed_up": ["email.welcome"],
  ...ACCOUNT_MAIL_ROUTES,
  "organization.export_requested": ["organization.export"],
};
