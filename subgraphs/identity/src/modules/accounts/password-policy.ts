import { z } from "zod";

/**
 * The password rules (NIST SP 800-63B): length is what counts, so 12 to 200 characters and no
 * composition rules; refused are passwords found at the top of breach corpora, one character
 * repeated, and the account's own e-mail address. Checking against a full breach corpus (Have I Been
 * Pwned) would need a network call per sign-up; this list stops what guessing tries first.
 */
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 200;

// Passwords of 12 characters or more from the top of public breach-frequency lists (lower-cased).
const COMMON = new Set([
  "123456789012",
  "1234567890123",
  "12345678901234",
  "123456789123",
  "qwertyuiopas",
  "qwertyuiop123",
  "qwerty123456",
  "qwertyqwerty",
  "1q2w3e4r5t6y",
  "1qaz2wsx3edc",
  "passwordpassword",
  "password1234",
  "password12345",
  "password123456",
  "password123!",
  "iloveyou1234",
  "abcdefghijkl",
  "abcd12345678",
  "abc123abc123",
  "welcome12345",
  "letmein12345",
  "changeme1234",
  "administrator",
  "administrator1",
  "adminadmin123",
  "superman1234",
  "football1234",
  "baseball1234",
  "sunshine1234",
  "princess1234",
  "monkeymonkey",
  "trustno1trustno1",
  "zaq12wsxcde3",
  "asdfghjkl123",
  "asdfasdfasdf",
  "zxcvbnm12345",
]);

/** A new password under the policy (the e-mail rule is {@link notTheEmail}, which needs the address). */
export const newPassword = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`)
  .refine((p) => !COMMON.has(p.toLowerCase()), "is one of the most common passwords: choose another")
  .refine((p) => new Set(p).size > 2, "must not be one or two characters repeated");

/** False when the password is the e-mail address, its local part, or contains the address. */
export function notTheEmail(password: string, email: string): boolean {
  const lower = password.toLowerCase();
  const address = email.toLowerCase();
  return !lower.includes(address) && lower !== address.split("@")[0];
}
