export * from "./context.ts";
export * from "./env.ts";
export * from "./errors.ts";
export * from "./http.ts";
export * from "./internal-context.ts";
export * from "./logger.ts";
export * from "./roles.ts";
