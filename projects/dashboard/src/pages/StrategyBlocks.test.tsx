import { describe, expect, it } from "vitest";
import { useState } from "react";
import { fireEvent, render, screen } from "@testing-library/react";
import { StrategyBlocks } from "./Builder";
import type { Schemas } from "../api/client";

type Strategy = Schemas["PipelineStrategy"];

// A DataTransfer stand-in: jsdom has none.
function transfer() {
  const data = new Map<string, string>();
  return { setData: (k: string, v: string) => data.set(k, v), getData: (k: string) => data.get(k) ?? "", dropEffect: "", effectAllowed: "" };
}

function Harness({ initial, errors }: { initial: Strategy[]; errors?: { path: string; message: string }[] }) {
  const [s, setS] = useState(initial);
  return (
    <>
      <StrategyBlocks strategies={s} onChange={setS} errors={errors} />
      <output data-testid="order">{s.map((x) => x.type).join(",")}</output>
    </>
  );
}

const order = () => screen.getByTestId("order").textContent;

describe("StrategyBlocks", () => {
  it("inserts a palette block where it is dropped and moves blocks by dragging", () => {
    render(<Harness initial={[{ type: "drop_labels" }, { type: "aggregate" }]} />);
    let dt = transfer();
    fireEvent.dragStart(screen.getByTestId("palette-topk"), { dataTransfer: dt });
    fireEvent.dragOver(screen.getByTestId("block-1"), { dataTransfer: dt });
    fireEvent.drop(screen.getByTestId("block-1"), { dataTransfer: dt });
    expect(order()).toBe("drop_labels,topk,aggregate");
    dt = transfer();
    fireEvent.dragStart(screen.getByTestId("block-0"), { dataTransfer: dt });
    fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: dt });
    expect(order()).toBe("topk,aggregate,drop_labels");
  });
  it("ignores a drop that carries no block", () => {
    render(<Harness initial={[{ type: "drop_labels" }]} />);
    fireEvent.drop(screen.getByTestId("dropzone"), { dataTransfer: transfer() });
    expect(order()).toBe("drop_labels");
  });
  it("adds and moves with buttons (the keyboard path)", () => {
    render(<Harness initial={[{ type: "drop_labels" }]} />);
    fireEvent.click(screen.getByTestId("palette-cardinality_cap"));
    expect(order()).toBe("drop_labels,cardinality_cap");
    fireEvent.click(screen.getByRole("button", { name: "Move cardinality_cap up" }));
    expect(order()).toBe("cardinality_cap,drop_labels");
    fireEvent.click(screen.getByRole("button", { name: "Remove drop_labels" }));
    expect(order()).toBe("cardinality_cap");
  });
  it("shows a field error under the block and field it names", () => {
    render(<Harness initial={[{ type: "drop_labels" }, { type: "topk", k: 0 }]} errors={[{ path: "strategies[1].k", message: "must be at least 1" }]} />);
    const k = screen.getByRole("textbox", { name: /^k/ });
    expect(k.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(k.getAttribute("aria-describedby")!)?.textContent).toBe("must be at least 1");
    expect(screen.getByTestId("block-0").querySelector(".field-error")).toBeNull();
  });
});
