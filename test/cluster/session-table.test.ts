import { describe, expect, it } from "vitest";
import { SessionTable } from "../../scripts/session-table.js";

function tableWithClock(maxEntries: number, ttlMs: number) {
  const clock = { now: 0 };
  const table = new SessionTable<string>({
    maxEntries,
    ttlMs,
    now: () => clock.now,
  });
  return { table, clock };
}

describe("SessionTable", () => {
  it("returns stored values", () => {
    const { table } = tableWithClock(10, 1000);
    table.set("a", "alpha");
    table.set("b", "beta");

    expect(table.get("a")).toBe("alpha");
    expect(table.get("b")).toBe("beta");
    expect(table.get("c")).toBeUndefined();
    expect(table.size).toBe(2);
  });

  it("expires entries idle longer than the TTL", () => {
    const { table, clock } = tableWithClock(10, 1000);
    table.set("a", "alpha");
    table.set("b", "beta");

    clock.now = 900;
    expect(table.get("a")).toBe("alpha");
    clock.now = 1500;

    expect(table.get("a")).toBe("alpha");
    expect(table.get("b")).toBeUndefined();
    expect(table.size).toBe(1);
  });

  it("removes expired entries in bulk", () => {
    const { table, clock } = tableWithClock(10, 1000);
    table.set("a", "alpha");
    table.set("b", "beta");
    clock.now = 600;
    table.set("c", "gamma");

    clock.now = 1200;
    table.removeExpired();

    expect(table.size).toBe(1);
    expect(table.get("c")).toBe("gamma");
  });

  it("evicts the least recently used entry when full", () => {
    const { table } = tableWithClock(3, 1000);
    table.set("a", "alpha");
    table.set("b", "beta");
    table.set("c", "gamma");
    table.get("a");

    table.set("d", "delta");

    expect(table.size).toBe(3);
    expect(table.get("b")).toBeUndefined();
    expect(table.get("a")).toBe("alpha");
    expect(table.get("c")).toBe("gamma");
    expect(table.get("d")).toBe("delta");
  });

  it("replaces the value of an existing key", () => {
    const { table } = tableWithClock(2, 1000);
    table.set("a", "alpha");
    table.set("a", "beta");

    expect(table.size).toBe(1);
    expect(table.get("a")).toBe("beta");
  });

  it("rejects invalid limits", () => {
    expect(() => new SessionTable({ maxEntries: 0, ttlMs: 1 })).toThrow(
      RangeError,
    );
    expect(() => new SessionTable({ maxEntries: 1, ttlMs: 0 })).toThrow(
      RangeError,
    );
  });
});
