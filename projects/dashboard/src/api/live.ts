// One WebSocket to /api/v1/ws for the whole app: topics are subscribed while
// a component listens and dropped when the last listener leaves. The socket
// reconnects with backoff (capped) and resubscribes; there are no polling
// loops anywhere in the UI.
import { session, refresh } from "./client";

export type LiveEvent = { topic: string; event: string; data: unknown };
type Listener = (e: LiveEvent) => void;

const listeners = new Map<string, Set<Listener>>();
let ws: WebSocket | null = null;
let backoff = 500;
let timer: ReturnType<typeof setTimeout> | undefined;
let lingerTimer: ReturnType<typeof setTimeout> | undefined;
/** LINGER keeps the socket open after the last listener leaves, so moving between pages does not reconnect. */
const LINGER = 5_000;

/** idle: nothing subscribed; live: the socket is open; connecting: wanted but not open. */
export type LiveStatus = "idle" | "live" | "connecting";
const statusListeners = new Set<(s: LiveStatus) => void>();

function send(op: "subscribe" | "unsubscribe", topic: string) {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ op, topic }));
}

function status(): LiveStatus {
  if (ws?.readyState === WebSocket.OPEN) return "live";
  return listeners.size > 0 ? "connecting" : "idle";
}

let lastStatus: LiveStatus = "idle";
function setStatus() {
  const s = status();
  if (s === lastStatus) return;
  lastStatus = s;
  statusListeners.forEach((f) => f(s));
}

function connect() {
  if (ws || listeners.size === 0 || !session.access) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const sock = new WebSocket(`${proto}//${location.host}/api/v1/ws?access_token=${encodeURIComponent(session.access)}`);
  ws = sock;
  setStatus();
  sock.onopen = () => {
    backoff = 500;
    setStatus();
    listeners.forEach((_, topic) => send("subscribe", topic));
  };
  sock.onmessage = (m) => {
    let e: LiveEvent;
    try {
      e = JSON.parse(String(m.data));
    } catch {
      return;
    }
    listeners.get(e.topic)?.forEach((f) => f(e));
  };
  sock.onclose = async () => {
    if (ws !== sock) return; // a socket closed on purpose, already replaced
    ws = null;
    setStatus();
    if (listeners.size === 0) return;
    // The access token may have expired: refresh before reconnecting.
    await refresh();
    timer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15_000);
  };
}

/** subscribe calls f for every event on topic until the returned function runs. */
export function subscribe(topic: string, f: Listener): () => void {
  let set = listeners.get(topic);
  if (!set) {
    set = new Set();
    listeners.set(topic, set);
    send("subscribe", topic);
  }
  set.add(f);
  clearTimeout(lingerTimer);
  connect();
  return () => {
    set!.delete(f);
    if (set!.size === 0) {
      listeners.delete(topic);
      send("unsubscribe", topic);
    }
    if (listeners.size === 0) {
      clearTimeout(timer);
      clearTimeout(lingerTimer);
      lingerTimer = setTimeout(drop, LINGER);
      setStatus();
    }
  };
}

function drop() {
  if (listeners.size > 0) return;
  const sock = ws;
  ws = null;
  sock?.close();
  setStatus();
}

/** onLiveStatus reports the socket's state now and on every change. */
export function onLiveStatus(f: (s: LiveStatus) => void): () => void {
  statusListeners.add(f);
  f(status());
  return () => statusListeners.delete(f);
}

/** closeLive drops the socket (logout). */
export function closeLive() {
  listeners.clear();
  clearTimeout(timer);
  drop();
}
