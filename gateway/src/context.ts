import { type InternalContext, signInternalContext } from "@app/common";

/** What each gateway request carries; subgraph fetches turn it into the signed internal header. */
export interface GatewayContext extends InternalContext {
  /** Signed once per request, reused for every subgraph fetch of that request. */
  signedContext?: Promise<string>;
}

/** The request's signed internal context (x-coditect-context), signed on first use. */
export function signedContextOf(context: GatewayContext, secret: string): Promise<string> {
  if (!context.signedContext) context.signedContext = signInternalContext(secret, context);
  return context.signedContext;
}
