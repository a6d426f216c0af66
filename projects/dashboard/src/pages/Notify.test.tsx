import { afterEach, describe, expect, it, vi } from "vitest";
import type { ReactNode } from "react";
import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";

// openapi-fetch needs an absolute base URL outside a browser: the pieces
// under test use a client like the app's, pointed at http://x, whose fetch is
// the (stubbed) global one.
vi.mock("../api/client", async (importOriginal) => {
  const m = await importOriginal<typeof import("../api/client")>();
  const { default: createClient } = await import("openapi-fetch");
  return { ...m, api: createClient<import("../api/schema").paths>({ baseUrl: "http://x", fetch: (r: Request) => globalThis.fetch(r) }) };
});

import { AlertDeliveries, Budgets, Channels, Silences, channelBody, silenceBody, silenceState } from "./Notify";

type Call = { method: string; path: string; body: unknown };

/** serve stubs fetch with routes "METHOD /path" → [status, body], recording every call. */
function serve(routes: Record<string, [number, unknown]>): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const u = new URL(req.url);
      const text = await req.text();
      calls.push({ method: req.method, path: u.pathname, body: text ? JSON.parse(text) : undefined });
      const r = routes[`${req.method} ${u.pathname}`];
      if (!r) return new Response(JSON.stringify({ title: "Not Found", status: 404, detail: `no route ${req.method} ${u.pathname}` }), { status: 404 });
      if (r[0] === 204) return new Response(null, { status: 204 });
      return new Response(JSON.stringify(r[1]), { status: r[0], headers: { "Content-Type": r[0] >= 400 ? "application/problem+json" : "application/json" } });
    }),
  );
  return calls;
}

function wrap(children: ReactNode) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(<QueryClientProvider client={qc}>{children}</QueryClientProvider>);
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const now = Date.parse("2026-12-07T12:00:00Z");
const silence = {
  id: "s1",
  team: "platform",
  stream: "prod",
  severity: "critical",
  starts_at: "2026-12-07T11:00:00Z",
  ends_at: "2099-12-07T13:00:00Z",
  created_at: "2026-12-07T11:00:00Z",
  created_by: "alice",
  comment: "deploy",
};

describe("silenceState", () => {
  it.each([
    ["active", "2026-12-07T11:00:00Z", "2026-12-07T13:00:00Z"],
    ["scheduled", "2026-12-07T12:30:00Z", "2026-12-07T13:00:00Z"],
    ["expired", "2026-12-07T10:00:00Z", "2026-12-07T12:00:00Z"],
  ])("%s", (want, starts_at, ends_at) => {
    expect(silenceState({ starts_at, ends_at }, now)).toBe(want);
  });
});

describe("request bodies", () => {
  it("leaves empty silence matchers out", () => {
    expect(silenceBody({ stream: " ", rule: "", severity: "", duration: " 2h ", comment: "" })).toEqual({ duration: "2h" });
    expect(silenceBody({ stream: "prod", rule: "explosion", severity: "high", duration: "30m", comment: "x" })).toEqual({
      stream: "prod",
      rule: "explosion",
      severity: "high",
      duration: "30m",
      comment: "x",
    });
  });
  it("splits channel streams and sends allow_private only when set", () => {
    expect(channelBody({ name: " ops ", type: "slack", url: "https://h/x", secret: "", severities: ["critical"], streams: "a, ,b", allowPrivate: false })).toEqual({
      name: "ops",
      type: "slack",
      url: "https://h/x",
      severities: ["critical"],
      streams: ["a", "b"],
    });
    expect(channelBody({ name: "pd", type: "pagerduty", url: "", secret: "rk", severities: [], streams: "", allowPrivate: true })).toEqual({
      name: "pd",
      type: "pagerduty",
      secret: "rk",
      severities: [],
      allow_private: true,
    });
  });
});

describe("Silences", () => {
  it("lists, creates with a matcher and duration, and deletes", async () => {
    const calls = serve({
      "GET /api/v1/silences": [200, { items: [silence], next_cursor: null }],
      "POST /api/v1/silences": [201, { ...silence, id: "s2" }],
      "DELETE /api/v1/silences/s1": [204, null],
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    wrap(<Silences canWrite />);
    const row = await screen.findByRole("row", { name: /stream prod, severity critical/ });
    expect(within(row).getByText("active")).toBeTruthy();
    expect(row.textContent).toContain("2099-12-07 13:00 UTC");
    fireEvent.change(screen.getByLabelText("Rule (kind or id)"), { target: { value: "explosion" } });
    fireEvent.change(screen.getByLabelText("For"), { target: { value: "1h30m" } });
    fireEvent.click(screen.getByRole("button", { name: "Add silence" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ rule: "explosion", duration: "1h30m" });
    fireEvent.click(within(row).getByRole("button", { name: /Delete/ }));
    await waitFor(() => expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/v1/silences/s1")).toBe(true));
  });
  it("shows a viewer no form and no delete button", async () => {
    serve({ "GET /api/v1/silences": [200, { items: [silence], next_cursor: null }] });
    wrap(<Silences canWrite={false} />);
    await screen.findByRole("row", { name: /stream prod/ });
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.queryByRole("form", { name: "Add a silence" })).toBeNull();
    expect(screen.getByText(/need the operator role/)).toBeTruthy();
  });
  it("shows the API's problem when a create fails", async () => {
    serve({
      "GET /api/v1/silences": [200, { items: [], next_cursor: null }],
      "POST /api/v1/silences": [400, { title: "Bad Request", status: 400, detail: "duration: at most 90 days" }],
    });
    wrap(<Silences canWrite />);
    await screen.findByText("No silence.");
    fireEvent.change(screen.getByLabelText("For"), { target: { value: "9999h" } });
    fireEvent.click(screen.getByRole("button", { name: "Add silence" }));
    expect((await screen.findByRole("alert")).textContent).toContain("duration: at most 90 days");
  });
});

describe("AlertDeliveries", () => {
  it("names each delivery's channel and its status", async () => {
    serve({
      "GET /api/v1/alerts/a1/deliveries": [
        200,
        {
          items: [
            { alert_id: "a1", channel_id: "c1", event: "fired", status: "delivered", attempts: 1, http_status: 200, updated_at: "2026-12-07T11:00:00Z" },
            { alert_id: "a1", channel_id: "c9", event: "fired", status: "failed", attempts: 3, error: "connection refused", updated_at: "2026-12-07T11:00:00Z" },
          ],
        },
      ],
      "GET /api/v1/channels": [200, { items: [{ id: "c1", name: "ops-slack", team: "t", type: "slack", url: "https://h", has_secret: false, severities: [], streams: [], allow_private: false, created_at: "2026-12-07T11:00:00Z", created_by: "a" }], next_cursor: null }],
    });
    wrap(<AlertDeliveries id="a1" />);
    const ok = await screen.findByRole("row", { name: /ops-slack/ });
    expect(ok.textContent).toContain("delivered (HTTP 200)");
    const bad = screen.getByRole("row", { name: /c9/ });
    expect(bad.textContent).toContain("failed");
    expect(bad.textContent).toContain("connection refused");
  });
});

const channel = { id: "c1", name: "ops-hook", team: "platform", type: "webhook", url: "https://hooks.example/p", has_secret: true, severities: ["critical"], streams: [], allow_private: false, created_at: "2026-12-07T11:00:00Z", created_by: "alice" };

describe("Channels", () => {
  it("creates, tests and deletes for an operator, without allow_private", async () => {
    const calls = serve({
      "GET /api/v1/channels": [200, { items: [channel], next_cursor: null }],
      "POST /api/v1/channels": [201, { ...channel, id: "c2" }],
      "POST /api/v1/channels/c1/test": [200, { alert_id: "", channel_id: "c1", event: "test", status: "failed", attempts: 1, http_status: 500, updated_at: "2026-12-07T11:00:00Z" }],
      "DELETE /api/v1/channels/c1": [204, null],
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    wrap(<Channels canWrite isAdmin={false} />);
    const row = await screen.findByRole("row", { name: /ops-hook/ });
    expect(row.textContent).toContain("secret set");
    expect(screen.queryByLabelText(/Allow private/)).toBeNull();
    fireEvent.click(within(row).getByRole("button", { name: /Test/ }));
    expect((await screen.findByTestId("channel-test")).textContent).toContain("failed (HTTP 500)");
    fireEvent.change(screen.getByLabelText("Channel name"), { target: { value: "team-slack" } });
    fireEvent.change(screen.getByLabelText("Type"), { target: { value: "slack" } });
    fireEvent.change(screen.getByLabelText("URL"), { target: { value: "https://hooks.slack.example/x" } });
    fireEvent.click(screen.getByRole("checkbox", { name: "high" }));
    fireEvent.click(screen.getByRole("button", { name: "Add channel" }));
    await waitFor(() => expect(calls.some((c) => c.method === "POST" && c.path === "/api/v1/channels")).toBe(true));
    expect(calls.find((c) => c.method === "POST" && c.path === "/api/v1/channels")?.body).toEqual({
      name: "team-slack",
      type: "slack",
      url: "https://hooks.slack.example/x",
      severities: ["high"],
    });
    fireEvent.click(within(row).getByRole("button", { name: /Delete/ }));
    await waitFor(() => expect(calls.some((c) => c.method === "DELETE" && c.path === "/api/v1/channels/c1")).toBe(true));
  });
  it("offers allow_private to admins only and nothing to viewers", async () => {
    serve({ "GET /api/v1/channels": [200, { items: [channel], next_cursor: null }] });
    const a = wrap(<Channels canWrite isAdmin />);
    await screen.findByRole("row", { name: /ops-hook/ });
    expect(screen.getByLabelText(/Allow private/)).toBeTruthy();
    a.unmount();
    wrap(<Channels canWrite={false} isAdmin={false} />);
    await screen.findByRole("row", { name: /ops-hook/ });
    expect(screen.queryByRole("button")).toBeNull();
  });
});

describe("Budgets", () => {
  it("shows each stream's value against the limit, and unknown before the first rollup", async () => {
    const rule = { id: "r1", name: "prod cost", team: "platform", stream: "", kind: "max_monthly_cost", severity: "high", threshold: 1000, price_model: "datadog", created_at: "2026-12-07T11:00:00Z", created_by: "a" };
    serve({
      "GET /api/v1/budgets": [
        200,
        {
          items: [
            { rule, streams: [{ stream: "prod", value: 1250, used: 1.25, exceeded: true, evaluated_at: "2026-12-07T11:00:00Z" }] },
            { rule: { ...rule, id: "r2", name: "series cap", kind: "max_active_series", threshold: 50000, stream: "dev" }, streams: [] },
          ],
          next_cursor: null,
        },
      ],
    });
    wrap(<Budgets />);
    const over = await screen.findByRole("row", { name: /prod cost/ });
    expect(over.textContent).toContain("$1,250 / $1,000");
    expect(over.textContent).toContain("125% over");
    const none = screen.getByRole("row", { name: /series cap/ });
    expect(none.textContent).toContain("unknown / 50,000");
    expect(none.textContent).toContain("not yet measured");
    expect(screen.queryByRole("button")).toBeNull();
  });
});
