import { z } from "zod";
import { fromZodIssues } from "./errors.ts";

/**
 * A trimmed single-line or multi-line text field of `min`..`max` characters. NUL and other C0 control
 * characters (except tab and newlines) are refused: PostgreSQL cannot store NUL in text, and the rest
 * only ever arrive by accident or as an attack on whoever displays them.
 */
export function text(min: number, max: number) {
  return z
    .string()
    .trim()
    .min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
      (s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s),
      "must not contain control characters",
    );
}

/** Parses service input with zod; every problem becomes one BAD_USER_INPUT naming each field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodIssues(result.error.issues);
  return result.data;
}
