import { describe, expect, it } from "vitest";
import { filterAlerts } from "./Alerts";
import { stepLabel } from "./Fleet";
import type { Schemas } from "../api/client";

const alert = (id: string, severity: Schemas["Alert"]["severity"], rule: Schemas["Alert"]["rule"]) => ({ id, severity, rule }) as Schemas["Alert"];

describe("filterAlerts", () => {
  const items = [alert("a", "critical", "explosion"), alert("b", "low", "anomaly"), alert("c", "critical", "anomaly")];
  it.each([
    ["", "", ["a", "b", "c"]],
    ["critical", "", ["a", "c"]],
    ["", "anomaly", ["b", "c"]],
    ["critical", "anomaly", ["c"]],
    ["high", "", []],
  ])("severity %j rule %j", (sev, rule, want) => expect(filterAlerts(items, sev, rule).map((a) => a.id)).toEqual(want));
});

describe("stepLabel", () => {
  const r = (strategy: "all" | "staged", steps: number[], step: number, pausing = false) =>
    ({ strategy, steps, progress: { step, pausing, agents: [], restored: false } }) as unknown as Schemas["Rollout"];
  it.each([
    [r("all", [], 0), "all agents at once"],
    [r("staged", [10, 50, 100], 1), "step 2 of 3 (50 %)"],
    [r("staged", [10, 50, 100], 0, true), "step 1 of 3 (10 %), pausing"],
    [r("staged", [10, 100], 7), "step 2 of 2 (100 %)"],
  ])("%#", (x, want) => expect(stepLabel(x)).toBe(want));
});
