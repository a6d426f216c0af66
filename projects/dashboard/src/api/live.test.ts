import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { session } from "./client";
import { closeLive, onLiveStatus, subscribe, type LiveStatus } from "./live";

class FakeWS {
  static OPEN = 1;
  static all: FakeWS[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen?: () => void;
  onmessage?: (m: { data: string }) => void;
  onclose?: () => void;
  constructor(readonly url: string) {
    FakeWS.all.push(this);
  }
  send(s: string) {
    this.sent.push(s);
  }
  close() {
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.());
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  emit(e: unknown) {
    this.onmessage?.({ data: JSON.stringify(e) });
  }
}

beforeEach(() => {
  FakeWS.all = [];
  vi.useFakeTimers();
  vi.stubGlobal("WebSocket", FakeWS);
  session.set({ access_token: "tok", refresh_token: "r", expires_in: 900 });
});

afterEach(() => {
  closeLive();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("live", () => {
  it("subscribes on open, routes events by topic, and lingers after the last listener", async () => {
    const states: LiveStatus[] = [];
    const off = onLiveStatus((s) => states.push(s));
    const got: string[] = [];
    const unsub = subscribe("stream:default", (e) => got.push(`${e.topic}/${e.event}`));
    expect(FakeWS.all).toHaveLength(1);
    const ws = FakeWS.all[0];
    expect(ws.url).toContain("/api/v1/ws?access_token=tok");
    ws.open();
    expect(ws.sent).toEqual([JSON.stringify({ op: "subscribe", topic: "stream:default" })]);
    ws.emit({ topic: "stream:default", event: "rollup", data: {} });
    ws.emit({ topic: "agents", event: "agent", data: {} }); // not subscribed here
    expect(got).toEqual(["stream:default/rollup"]);

    unsub();
    expect(ws.sent.at(-1)).toBe(JSON.stringify({ op: "unsubscribe", topic: "stream:default" }));
    // A page change within the linger time reuses the socket.
    const unsub2 = subscribe("agents", () => {});
    vi.advanceTimersByTime(10_000);
    expect(FakeWS.all).toHaveLength(1);
    expect(ws.readyState).toBe(1);
    unsub2();
    vi.advanceTimersByTime(5_001);
    expect(ws.readyState).toBe(3);
    await Promise.resolve();
    expect(FakeWS.all).toHaveLength(1); // closed on purpose: no reconnect
    expect(states).toEqual(["idle", "connecting", "live", "idle"]);
    off();
  });

  it("reconnects with backoff when the socket drops while listened to", async () => {
    subscribe("agents", () => {});
    const first = FakeWS.all[0];
    first.open();
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify({ access_token: "tok2", refresh_token: "r2", expires_in: 900 }))));
    first.readyState = 3;
    await first.onclose?.();
    vi.advanceTimersByTime(600);
    expect(FakeWS.all).toHaveLength(2);
    expect(FakeWS.all[1].url).toContain("access_token=tok2");
    FakeWS.all[1].open();
    expect(FakeWS.all[1].sent).toEqual([JSON.stringify({ op: "subscribe", topic: "agents" })]);
  });
});
