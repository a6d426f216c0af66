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
