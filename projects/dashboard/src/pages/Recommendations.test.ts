import { describe, expect, it } from "vitest";
import { matches } from "./Recommendations";

describe("recommendation filter", () => {
  it.each([
    ["process.cpu.time", "cpu", true],
    ["process.cpu.time", "memory", false],
    ["", "cpu", true], // a stream-wide rule
    ["process.threads", "", true],
  ])("%j matches %j: %s", (rule, filter, want) => {
    expect(matches(rule, filter)).toBe(want);
  });
});
