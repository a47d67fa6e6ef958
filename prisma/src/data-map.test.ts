import { describe, expect, it } from "vitest";
import { deletionOrder, quoteIdent } from "./data-map.ts";

describe("deletionOrder", () => {
  it("puts every table before the tables it references, whatever the input order", () => {
    const keys = [
      { child: "tasks", parent: "projects" },
      { child: "comments", parent: "tasks" },
      { child: "projects", parent: "organizations" },
      { child: "tasks", parent: "organizations" },
      { child: "tasks", parent: "tasks" }, // a self-reference does not loop
      { child: "other", parent: "elsewhere" }, // outside the set: ignored
    ];
    const tables = ["organizations", "projects", "comments", "tasks", "slugs"];
    for (const input of [tables, [...tables].reverse()]) {
      const order = deletionOrder(input, keys);
      expect([...order].sort()).toEqual([...tables].sort());
      const at = (t: string) => order.indexOf(t);
      expect(at("comments")).toBeLessThan(at("tasks"));
      expect(at("tasks")).toBeLessThan(at("projects"));
      expect(at("projects")).toBeLessThan(at("organizations"));
    }
  });

  it("quotes identifiers", () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});
