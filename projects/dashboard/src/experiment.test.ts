import { describe, expect, it } from "vitest";
import { actions, buildSpec, matches, newForm, rollupStep, stepOf, variantStreams, type ExperimentForm } from "./experiment";

// The spec the wizard must produce for docs/experiments.md's example
// (examples/experiments/topk.yaml), field for field.
const topk: ExperimentForm = {
  ...newForm(),
  name: "topk-vs-baseline",
  description: "Top 10 processes per host plus nginx and postgres, against the unchanged stream.",
  selector: [
    { key: "env", value: "dev" },
    { key: "", value: "" },
  ],
  candidates: [{ name: "topk", mode: "template", template: "topk", set: { k: "10", critical: "nginx|postgres", window: "" }, strategies: [] }],
  warmup: "30s",
  duration: "2m",
  critical: 'process.executable.name=~"nginx|postgres"\n',
  aggregates: 'sum({"process.cpu.time"}) by ("host.name")',
  criteria: { min_series_reduction_pct: "30", min_critical_retention_pct: "100", max_aggregate_error_pct: "5", min_cost_reduction_pct: "0", price_model: "datadog" },
};

describe("buildSpec", () => {
  it("produces the documented topk spec", () => {
    expect(buildSpec(topk)).toEqual({
      apiVersion: "phoenix.dev/v1alpha1",
      kind: "Experiment",
      metadata: { name: "topk-vs-baseline", description: "Top 10 processes per host plus nginx and postgres, against the unchanged stream." },
      spec: {
        target: { selector: { env: "dev" } },
        baseline: { template: "baseline" },
        candidates: [{ name: "topk", template: "topk", set: { k: "10", critical: "nginx|postgres" } }],
        warmup: "30s",
        duration: "2m",
        critical: ['process.executable.name=~"nginx|postgres"'],
        aggregates: ['sum({"process.cpu.time"}) by ("host.name")'],
        criteria: { min_series_reduction_pct: 30, min_critical_retention_pct: 100, max_aggregate_error_pct: 5, min_cost_reduction_pct: 0, price_model: "datadog" },
        on_success: "wait",
        rollout: { strategy: "all" },
      },
    });
  });
  it("sends strategy blocks from the builder and a staged rollout", () => {
    const s = buildSpec({
      ...topk,
      candidates: [{ name: "drop", mode: "strategies", template: "", set: {}, strategies: [{ type: "drop_labels", labels: ["process.pid", ""] }] }],
      criteria: { ...topk.criteria, max_aggregate_error_pct: " ", min_critical_retention_pct: "" },
      critical: "",
      aggregates: "",
      rollout: { strategy: "staged", steps: "10, 50,100", pause: "1m" },
      on_success: "promote",
    }).spec as Record<string, unknown>;
    expect(s.candidates).toEqual([{ name: "drop", strategies: [{ type: "drop_labels", labels: ["process.pid"] }] }]);
    expect(s.criteria).toEqual({ min_series_reduction_pct: 30, min_cost_reduction_pct: 0, price_model: "datadog" });
    expect(s.critical).toBeUndefined();
    expect(s.rollout).toEqual({ strategy: "staged", steps: [10, 50, 100], pause: "1m" });
    expect(s.on_success).toBe("promote");
  });
});

describe("stepOf", () => {
  it.each([
    ["metadata.name", 0],
    ["spec.target.selector", 0],
    ["spec.baseline.template", 1],
    ["spec.candidates[0].set.k", 2],
    ["spec.criteria.min_critical_retention_pct", 3],
    ["spec.duration", 3],
    ["kind", 4],
  ])("%s is edited in step %i", (path, step) => expect(stepOf(path)).toBe(step));
});

describe("actions", () => {
  it.each([
    ["draft", "wait", ["start", "delete", "stop"]],
    ["running", "wait", ["stop"]],
    ["succeeded", "wait", ["approve", "stop"]],
    ["succeeded", "promote", ["promote", "stop"]],
    ["promoting", "wait", ["rollback", "stop"]],
    ["failed", "wait", []],
    ["promoted", "wait", []],
  ] as const)("%s (on_success %s)", (state, on, want) => expect(actions(state, on)).toEqual(want));
});

describe("matches", () => {
  it.each([
    [{ env: "dev", team: "default" }, { env: "dev" }, true],
    [{ env: "dev" }, { env: "prod" }, false],
    [{ env: "dev" }, { env: "dev", region: "eu" }, false],
    [{ env: "dev" }, {}, false],
  ])("%j against %j", (labels, sel, want) => expect(matches(labels, sel)).toBe(want));
});

it("names the variant streams <name>--<variant>", () => {
  expect(variantStreams("exp", { spec: { candidates: [{ name: "a" }, { name: "b" }] } })).toEqual([
    { variant: "baseline", stream: "exp--baseline" },
    { variant: "a", stream: "exp--a" },
    { variant: "b", stream: "exp--b" },
  ]);
  expect(variantStreams("exp", null)).toEqual([{ variant: "baseline", stream: "exp--baseline" }]);
});

it.each([
  [0, 60_000, "10s"],
  [0, 3_600_000, "10s"],
  [0, 24 * 3_600_000, "173s"],
])("rollupStep(%i, %i) = %s", (from, to, want) => expect(rollupStep(from, to)).toBe(want));
