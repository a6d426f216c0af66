// Data shaping for the charts, apart from uPlot (which needs a real browser).

/** Line is one named series of a MultiChart; xs are Unix seconds. */
export type Line = { label: string; xs: number[]; ys: number[] };

/**
 * align merges lines sampled at different times onto one time axis (uPlot
 * wants one x array): a line without a point at a time gets null (a gap).
 */
export function align(lines: Line[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(lines.flatMap((l) => l.xs))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map((l) => {
    const out: (number | null)[] = new Array(xs.length).fill(null);
    l.xs.forEach((x, i) => (out[at.get(x)!] = l.ys[i]));
    return out;
  });
  return [xs, ...ys];
}

