import { describe, expect, it } from "vitest";
import { ago, compact, money, num, pct } from "./format";

describe("format", () => {
  it.each([
    [num(1234567), "1,234,567"],
    [num(12.345, 1), "12.3"],
    [num(null), "—"],
    [num(undefined), "—"],
    [compact(15300), "15.3K"],
    [money(1234.5), "$1,235"],
    [money(12.5), "$12.50"],
    [money(null), "—"],
    [pct(0.5), "50%"],
    [pct(0.034), "3.4%"],
    [ago("2026-12-07T10:00:00Z", Date.parse("2026-12-07T10:00:42Z")), "42s ago"],
    [ago("2026-12-07T10:00:00Z", Date.parse("2026-12-07T12:00:00Z")), "2h ago"],
    [ago(null), "never"],
  ])("%s is %s", (got, want) => {
    expect(got).toBe(want);
  });
});
