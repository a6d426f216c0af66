import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { ApiError } from "../api/client";
import { ErrorBox, Query } from "./States";

describe("ErrorBox", () => {
  it("shows the problem's title, status, detail and field errors", () => {
    const e = new ApiError({
      title: "Bad Request",
      status: 400,
      detail: "the collector rejected the config",
      errors: [{ path: "processors::phoenix_topk/topk::k", message: "must be at least 1" }],
    });
    render(<ErrorBox error={e} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("Bad Request (400)");
    expect(alert.textContent).toContain("the collector rejected the config");
    expect(alert.textContent).toContain("processors::phoenix_topk/topk::k: must be at least 1");
  });
  it("shows a network error's message", () => {
    render(<ErrorBox error={new TypeError("Failed to fetch")} />);
    expect(screen.getByRole("alert").textContent).toContain("Failed to fetch");
  });
});

describe("Query", () => {
  it.each([
    ["loading", { isPending: true, error: null, data: undefined }, "Loading things"],
    ["error", { isPending: false, error: new ApiError({ title: "Forbidden", status: 403, detail: "admins only" }), data: undefined }, "admins only"],
    ["empty", { isPending: false, error: null, data: [] as number[] }, "Nothing here"],
    ["data", { isPending: false, error: null, data: [1, 2] }, "2 items"],
  ])("renders the %s state", (_, q, want) => {
    const { container } = render(
      <Query q={q} what="things" empty={(d: number[]) => d.length === 0 && "Nothing here"}>
        {(d) => <p>{d.length} items</p>}
      </Query>,
    );
    expect(container.textContent).toContain(want);
  });
});
