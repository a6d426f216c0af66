import { describe, expect, it } from "vitest";
import { align } from "./align";

describe("align", () => {
  it("puts lines sampled at different times on one axis with gaps", () => {
    expect(
      align([
        { label: "baseline", xs: [10, 20, 30], ys: [1, 2, 3] },
        { label: "topk", xs: [20, 40], ys: [5, 6] },
      ]),
    ).toEqual([
      [10, 20, 30, 40],
      [1, 2, 3, null],
      [null, 5, null, 6],
    ]);
  });
  it("handles no data", () => expect(align([{ label: "a", xs: [], ys: [] }])).toEqual([[], []]));
});
