import { describe, expect, it } from "vitest";
import { slugify, slugSchema } from "./slugs.ts";

describe("slugs", () => {
  it("derives a valid slug from any name, with room for the suffix a taken one gets", () => {
    const names = [
      "Acme Inc.",
      "Ünïcödé Gmbh",
      "a",
      "",
      "!!!",
      "Admin",
      "www",
      "x".repeat(300),
      "--a--b--",
      "日本語",
      "API",
    ];
    for (const name of names) {
      const slug = slugify(name);
      expect(slugSchema.safeParse(slug).success, `${name} -> ${slug}`).toBe(true);
      expect(slugSchema.safeParse(`${slug}-2f9k`).success, `${name} -> ${slug}-2f9k`).toBe(true);
    }
    expect(slugify("Acme Inc.")).toBe("acme-inc");
    expect(slugify("Admin")).toBe("org-admin");
  });

  it("refuses what cannot be a DNS label or could pass for the platform", () => {
    for (const bad of ["ab", "Acme", "-a-b", "a-b-", "a--b", "a_b", "a.b", "www", "api", "x".repeat(41)])
      expect(slugSchema.safeParse(bad).success, bad).toBe(false);
    for (const good of ["abc", "acme-inc", "a1-b2-c3", "x".repeat(40)])
      expect(slugSchema.safeParse(good).success, good).toBe(true);
  });
});
