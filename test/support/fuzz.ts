/** Deterministic pseudo-random numbers (mulberry32), so a failing seed can be replayed. */
export function createRandom(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number) => Math.floor(next() * max);
  const pick = <T>(values: readonly T[]): T => values[int(values.length)]!;
  return { next, int, pick };
}

export type Random = ReturnType<typeof createRandom>;

/** Strings that tend to break parsers, validators, logs and Redis keys. */
const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "\ud800",
  "\udfff",
  "a\ud83dz",
  "\u200b\u200d\ufeff",
  "\u202eevil\u202c",
  "👩‍👩‍👧‍👦".repeat(50),
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  "../../etc/passwd",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "%s%n%x",
  "\r\n\r\nHTTP/1.1 200 OK",
  "*",
  "{}",
  "[]",
  "null",
  "NaN",
  "1e309",
  "dm_" + "x".repeat(40),
];

/**
 * Builds a random JSON-like value of bounded size and depth: long strings and
 * long arrays appear only at the top, so one value stays under about 100 kB.
 */
export function randomValue(random: Random, depth = 0): unknown {
  const kind = random.int(depth > 3 ? 7 : 10);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return random.next() < 0.5;
    case 2:
      return random.pick([
        0,
        -1,
        1.5,
        2 ** 53,
        -(2 ** 53),
        Number.MAX_VALUE,
        1e-300,
        42,
      ]);
    case 3:
      return random.pick(NASTY_STRINGS);
    case 4:
      return "x".repeat(
        random.pick(depth === 0 ? [1, 200, 5000, 60_000] : [1, 10, 200]),
      );
    case 5:
      return Array.from({ length: random.int(5) }, () =>
        String.fromCharCode(random.int(0xffff)),
      ).join("");
    case 6:
      return undefined;
    case 7:
      return Array.from(
        { length: random.pick(depth === 0 ? [0, 1, 3, 1000] : [0, 1, 3]) },
        () => randomValue(random, depth + 1),
      );
    default: {
      const object: Record<string, unknown> = {};
      for (let i = random.int(5); i > 0; i--) {
        object[
          random.pick([
            "conversationId",
            "text",
            "memberIds",
            "seq",
            "state",
            "__proto__",
            "constructor",
            "limit",
            random.pick(NASTY_STRINGS),
          ])
        ] = randomValue(random, depth + 1);
      }
      return object;
    }
  }
}

/** Nests `depth` arrays inside one another. */
export function deeplyNested(depth: number): unknown {
  let value: unknown = "bottom";
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Replaces one field of a valid payload with a random value. */
export function mutate(
  random: Random,
  valid: Record<string, unknown>,
): unknown {
  const keys = Object.keys(valid);
  if (keys.length === 0 || random.next() < 0.2) return randomValue(random);
  const copy: Record<string, unknown> = { ...valid };
  copy[random.pick(keys)] = randomValue(random);
  return copy;
}
