/** Percentile by the nearest-rank method on an ascending array; NaN when it is empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of the finite values; NaN fields when there are none. */
export function spread(values: number[]): Spread {
  const finite = values.filter((value) => Number.isFinite(value));
  if (finite.length === 0)
    return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...finite].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? sorted[middle]!
      : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

/** Percentiles drawn in the latency chart and stored in the results. */
export const CURVE_PERCENTILES = [
  0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5,
  99.9,
];

export function percentileCurve(
  sorted: ArrayLike<number>,
): { p: number; ms: number }[] {
  return CURVE_PERCENTILES.map((p) => ({
    p,
    ms: p === 0 ? (sorted[0] ?? Number.NaN) : percentile(sorted, p),
  }));
}
