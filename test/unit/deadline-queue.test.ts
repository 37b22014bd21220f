import { describe, expect, it } from "vitest";
import { DeadlineQueue } from "../../server/src/realtime/deadline-queue.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("DeadlineQueue", () => {
  it("expires entries in order after the delay", async () => {
    const expired: string[] = [];
    const queue = new DeadlineQueue<string>(40, (entry) => expired.push(entry));
    queue.add("a");
    await sleep(15);
    queue.add("b");
    await sleep(30);
    expect(expired).toEqual(["a"]);
    await sleep(30);
    expect(expired).toEqual(["a", "b"]);
    expect(queue.size).toBe(0);
  });

  it("skips deleted entries", async () => {
    const expired: string[] = [];
    const queue = new DeadlineQueue<string>(20, (entry) => expired.push(entry));
    const first = queue.add("a");
    queue.add("b");
    expect(queue.delete(first)).toBe(true);
    expect(queue.delete(first)).toBe(false);
    await sleep(50);
    expect(expired).toEqual(["b"]);
  });

  it("keeps expiring after a callback throws", async () => {
    const expired: string[] = [];
    const queue = new DeadlineQueue<string>(10, (entry) => {
      expired.push(entry);
      if (entry === "a") throw new Error("callback failed");
    });
    const failures: unknown[] = [];
    const onUncaught = (error: unknown) => failures.push(error);
    process.prependListener("uncaughtException", onUncaught);
    try {
      queue.add("a");
      queue.add("b");
      await sleep(60);
    } finally {
      process.removeListener("uncaughtException", onUncaught);
    }
    expect(expired).toEqual(["a", "b"]);
    expect(failures).toHaveLength(1);
  });
});
