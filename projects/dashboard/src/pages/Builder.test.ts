import { describe, expect, it } from "vitest";
import { buildRequest, withField, type BuilderForm } from "./Builder";

const base: BuilderForm = {
  mode: "template",
  template: "topk",
  set: { k: "5", window: "" },
  strategies: [],
  exporterType: "otlphttp",
  endpoint: "http://127.0.0.1:4318",
};

describe("buildRequest", () => {
  it("sends the template with only the parameters set", () => {
    const r = buildRequest(base);
    expect(r.template).toBe("topk");
    expect(r.set).toEqual({ k: "5" });
    expect(r.strategies).toBeUndefined();
    expect(r.target).toMatchObject({ kind: "production", exporter: { type: "otlphttp", endpoint: "http://127.0.0.1:4318" } });
  });
  it("sends strategy blocks without empty list items", () => {
    const r = buildRequest({ ...base, mode: "strategies", strategies: [{ type: "drop_labels", labels: ["process.pid", ""] }] });
    expect(r.template).toBeUndefined();
    expect(r.strategies).toEqual([{ type: "drop_labels", labels: ["process.pid"] }]);
  });
});

describe("withField", () => {
  it.each([
    ["labels", "a, b,", { type: "drop_labels", labels: ["a", "b", ""] }],
    ["k", "10", { type: "drop_labels", k: 10 }],
    ["interval", "60s", { type: "drop_labels", interval: "60s" }],
    ["labels", "  ", { type: "drop_labels" }],
  ] as const)("%s=%j", (field, raw, want) => {
    expect(withField({ type: "drop_labels", labels: ["old"] as string[] }, field, raw)).toEqual(
      field === "labels" ? want : { ...want, labels: ["old"] },
    );
  });
});

import { blockErrors, insertItem, moveItem } from "./Builder";

describe("moveItem and insertItem", () => {
  it.each([
    [["a", "b", "c"], 0, 2, ["b", "c", "a"]],
    [["a", "b", "c"], 2, 0, ["c", "a", "b"]],
    [["a", "b", "c"], 1, 1, ["a", "b", "c"]],
    [["a", "b", "c"], 0, 99, ["b", "c", "a"]],
    [["a", "b", "c"], 5, 0, ["a", "b", "c"]],
  ])("moveItem(%j, %i, %i)", (a, from, to, want) => expect(moveItem(a, from, to)).toEqual(want));
  it.each([
    [[], "x", 0, ["x"]],
    [["a", "b"], "x", 1, ["a", "x", "b"]],
    [["a", "b"], "x", 9, ["a", "b", "x"]],
    [["a", "b"], "x", -1, ["x", "a", "b"]],
  ])("insertItem(%j, %s, %i)", (a, x, at, want) => expect(insertItem(a as string[], x, at)).toEqual(want));
});

describe("blockErrors", () => {
  it("groups the generator's field errors by block", () => {
    const m = blockErrors([
      { path: "strategies[1].k", message: "must be at least 1" },
      { path: "strategies[1].window", message: "not a duration" },
      { path: "strategies[0]", message: "unknown type" },
      { path: "target.exporter.type", message: "required" },
    ]);
    expect([...m.keys()].sort()).toEqual([0, 1]);
    expect(m.get(1)).toEqual([
      { field: "k", message: "must be at least 1" },
      { field: "window", message: "not a duration" },
    ]);
    expect(m.get(0)).toEqual([{ field: "", message: "unknown type" }]);
  });
});
