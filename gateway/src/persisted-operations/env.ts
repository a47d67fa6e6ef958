import { z } from "zod";
import { DEFAULT_TRUSTED_DOCUMENTS_PATH } from "./trusted-documents.ts";

/** Persisted-operation settings (README: gateway settings). */
export const persistedOperationsEnvShape = {
  /**
   * What callers other than API keys may send: `arbitrary` operations (default), or `persisted-only`
   * (the platform's trusted documents and their organization's registered operations). API keys are
   * always held to persisted operations.
   */
  PERSISTED_OPERATIONS: z.enum(["arbitrary", "persisted-only"]).default("arbitrary"),
  /** The trusted documents' manifest (`npm run codegen` writes it from schema/operations). */
  TRUSTED_DOCUMENTS_PATH: z.string().min(1).default(DEFAULT_TRUSTED_DOCUMENTS_PATH),
  /** How long a registered operation is cached: a deleted one keeps running at most this long. */
  REGISTERED_OPERATIONS_CACHE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
  /** Lifetime of an automatic persisted query (APQ) after it was last registered. */
  APQ_TTL_SECONDS: z.coerce.number().int().min(1).max(604_800).default(86_400),
  /** APQ documents each gateway keeps in memory (in front of Redis, or alone without it). */
  APQ_LOCAL_ENTRIES: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
};
