import { afterEach, describe, expect, it, vi } from "vitest";
import { api, session, unwrap, ApiError } from "./client";

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" } });
}

afterEach(() => {
  vi.unstubAllGlobals();
  session.clear();
});

describe("authFetch", () => {
  it("refreshes once on a 401 and retries with the new token", async () => {
    session.set({ access_token: "old", refresh_token: "r1", expires_in: 900 });
    const seen: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: Request | string, init?: RequestInit) => {
        const req = input instanceof Request ? input : new Request(new URL(input, "http://x"), init);
        seen.push(`${new URL(req.url).pathname} ${req.headers.get("Authorization") ?? ""}`);
        if (new URL(req.url).pathname === "/api/v1/auth/refresh") return json(200, { access_token: "new", refresh_token: "r2", expires_in: 900 });
        if (req.headers.get("Authorization") === "Bearer old") return json(401, { title: "Unauthorized", status: 401 });
        return json(200, { services: [] });
      }),
    );
    const r = unwrap(await api.GET("/api/v1/status", { baseUrl: "http://x" }));
    expect(r).toEqual({ services: [] });
    expect(seen).toEqual(["/api/v1/status Bearer old", "/api/v1/auth/refresh ", "/api/v1/status Bearer new"]);
    expect(session.access).toBe("new");
  });

  it("signs out when the refresh fails, and the problem reaches the caller", async () => {
    session.set({ access_token: "old", refresh_token: "r1", expires_in: 900 });
    const out = vi.fn();
    session.onSignedOut(out);
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => json(401, { title: "Unauthorized", status: 401, detail: "token revoked" })),
    );
    const res = await api.GET("/api/v1/status", { baseUrl: "http://x" });
    expect(() => unwrap(res)).toThrowError(ApiError);
    expect(() => unwrap(res)).toThrowError("token revoked");
    expect(out).toHaveBeenCalledOnce();
    expect(session.hasRefresh).toBe(false);
  });
});
