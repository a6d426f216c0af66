// The typed API client: every path, parameter and body is checked against
// schema.d.ts, generated from api/openapi.yaml (npm run gen:api), so a spec
// change that breaks the UI breaks `tsc`.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];

/** ApiError carries an RFC 9457 problem from the API, shown as is. */
export class ApiError extends Error {
  constructor(
    readonly problem: Problem,
  ) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
  }
}

/** Tokens lives in memory; only the refresh token survives a reload (sessionStorage). */
const REFRESH_KEY = "phoenix.refresh";
let access = "";
let refreshing: Promise<boolean> | null = null;
let onSignedOut: () => void = () => {};

export const session = {
  get access() {
    return access;
  },
  get hasRefresh() {
    return !!sessionStorage.getItem(REFRESH_KEY);
  },
  set(t: Schemas["Tokens"]) {
    access = t.access_token;
    sessionStorage.setItem(REFRESH_KEY, t.refresh_token);
  },
  clear() {
    access = "";
    sessionStorage.removeItem(REFRESH_KEY);
  },
  onSignedOut(f: () => void) {
    onSignedOut = f;
  },
};

/**
 * refresh trades the stored refresh token for new tokens. Concurrent 401s
 * share one refresh: refresh tokens rotate, so a second use would fail.
 */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  const rt = sessionStorage.getItem(REFRESH_KEY);
  if (!rt) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const res = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: rt }),
      });
      if (!res.ok) {
        session.clear();
        return false;
      }
      session.set(await res.json());
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** authFetch adds the bearer token and, on a 401, refreshes once and retries. */
export async function authFetch(input: Request): Promise<Response> {
  const retry = input.clone();
  const send = (r: Request) => {
    if (access) r.headers.set("Authorization", `Bearer ${access}`);
    return fetch(r);
  };
  const res = await send(input);
  if (res.status !== 401 || input.url.includes("/auth/login")) return res;
  if (await refresh()) return send(retry);
  session.clear();
  onSignedOut();
  return res;
}

export const api = createClient<paths>({ baseUrl: "", fetch: authFetch });

/** unwrap turns an openapi-fetch result into data or a thrown ApiError. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || !r.response.ok) {
    const e = r.error as Partial<Problem> | undefined;
    throw new ApiError({
      title: e?.title || r.response.statusText || "Request failed",
      status: e?.status || r.response.status,
      detail: e?.detail,
      errors: e?.errors,
    });
  }
  return r.data as T;
}
