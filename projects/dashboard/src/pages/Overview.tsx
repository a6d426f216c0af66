import { useCallback, useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useLive } from "../api/hooks";
import { Query } from "../components/States";
import { TimeChart } from "../components/Chart";
import { compact, money, num } from "../format";

import { PRICE_MODELS } from "../models";

export default function Overview() {
  const [model, setModel] = useState<string>(() => localStorage.getItem("phoenix.model") || "self-hosted");
  const status = useQuery({ queryKey: ["status"], queryFn: async () => unwrap(await api.GET("/api/v1/status")) });
  const streams = useQuery({ queryKey: ["streams"], queryFn: async () => unwrap(await api.GET("/api/v1/streams")) });
  const agents = useQuery({ queryKey: ["agents"], queryFn: async () => unwrap(await api.GET("/api/v1/agents", { params: { query: { limit: 500 } } })) });
  useLive("agents", [["agents"]]);

  return (
    <>
      <header className="page-head">
        <h1>Overview</h1>
        <label className="inline">
          Price model
          <select
            value={model}
            onChange={(e) => {
              setModel(e.target.value);
              localStorage.setItem("phoenix.model", e.target.value);
            }}
          >
            {PRICE_MODELS.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
      </header>

      <section aria-labelledby="streams-h">
        <h2 id="streams-h">Streams</h2>
        <Query q={streams} what="streams" empty={(d) => d.items.length === 0 && "No stream has sent metrics yet."}>
          {(d) => (
            <div className="cards">
              {d.items.map((s) => (
                <StreamCard key={s.stream} stream={s} model={model} />
              ))}
            </div>
          )}
        </Query>
      </section>

      <div className="grid2">
        <section aria-labelledby="services-h">
          <h2 id="services-h">Services</h2>
          <Query q={status} what="service health">
            {(d) => (
              <ul className="health" data-testid="services">
                {d.services.map((s) => (
                  <li key={s.name}>
                    <span className={`dot ${s.health}`} aria-hidden />
                    <span>{s.name}</span>
                    <span className="muted">{s.health}</span>
                    {s.detail && <span className="muted small">{s.detail}</span>}
                  </li>
                ))}
              </ul>
            )}
          </Query>
        </section>
        <section aria-labelledby="fleet-h">
          <h2 id="fleet-h">Fleet</h2>
          <Query q={agents} what="agents" empty={(d) => d.items.length === 0 && "No agent has connected."}>
            {(d) => <FleetSummary agents={d.items} />}
          </Query>
        </section>
      </div>
    </>
  );
}

function FleetSummary({ agents }: { agents: Schemas["Agent"][] }) {
  const connected = agents.filter((a) => a.connected).length;
  const healthy = agents.filter((a) => a.healthy === true).length;
  const failed = agents.filter((a) => a.remote_config_status === "failed").length;
  return (
    <>
    <dl className="stats" data-testid="fleet-summary">
      <div>
        <dt>Agents</dt>
        <dd>{agents.length}</dd>
      </div>
      <div>
        <dt>Connected</dt>
        <dd>{connected}</dd>
      </div>
      <div>
        <dt>Healthy</dt>
        <dd>{healthy}</dd>
      </div>
      <div>
        <dt>Config failed</dt>
        <dd className={failed ? "bad" : ""}>{failed}</dd>
      </div>
    </dl>
    <Link to="/fleet">Open fleet →</Link>
    </>
  );
}

type Point = { t: number; v: number };
const MAX_POINTS = 360; // one hour of 10 s rollups

function StreamCard({ stream, model }: { stream: Schemas["StreamSummary"]; model: string }) {
  const id = stream.stream!;
  const card = useQuery({
    queryKey: ["cardinality", id, 1],
    queryFn: async () => unwrap(await api.GET("/api/v1/streams/{stream}/cardinality", { params: { path: { stream: id }, query: { top_values: 1 } } })),
  });
  const cost = useQuery({
    queryKey: ["cost", id, model],
    queryFn: async () => unwrap(await api.GET("/api/v1/cost", { params: { query: { stream: id, model } } })),
  });
  const rollups = useQuery({
    queryKey: ["rollups", id],
    queryFn: async () => unwrap(await api.GET("/api/v1/streams/{stream}/rollups", { params: { path: { stream: id }, query: {} } })),
    staleTime: Infinity, // live events extend it
  });
  const [live, setLive] = useState<Point[]>([]);
  const onEvent = useCallback((e: { event: string; data: unknown }) => {
    if (e.event !== "rollup") return;
    const r = e.data as Schemas["Rollup"];
    if (!r.end || r.active_series === undefined) return;
    setLive((p) => [...p.slice(-MAX_POINTS + 1), { t: Date.parse(r.end!) / 1000, v: r.active_series! }]);
  }, []);
  useLive(`stream:${id}`, [["cardinality", id], ["cost", id], ["streams"]], onEvent);

  const [xs, ys] = useMemo(() => {
    const pts = new Map<number, number>();
    for (const r of rollups.data?.items ?? []) if (r.end) pts.set(Date.parse(r.end) / 1000, r.active_series ?? 0);
    for (const p of live) pts.set(p.t, p.v);
    const sorted = [...pts.entries()].sort((a, b) => a[0] - b[0]).slice(-MAX_POINTS);
    return [sorted.map((p) => p[0]), sorted.map((p) => p[1])];
  }, [rollups.data, live]);

  const m = cost.data?.models?.find((x) => x.model === model) ?? cost.data?.models?.[0];
  return (
    <article className="card" data-testid={`stream-${id}`} aria-labelledby={`s-${id}`}>
      <h3 id={`s-${id}`}>
        <Link to={`/cardinality/${encodeURIComponent(id)}`}>{id}</Link>
        {stream.team && <span className="tag">{stream.team}</span>}
      </h3>
      <dl className="stats">
        <div>
          <dt>Active series</dt>
          <dd data-testid="active-series">{num(card.data?.active_series ?? stream.active_series)}</dd>
        </div>
        <div>
          <dt>Datapoints/s</dt>
          <dd data-testid="dps" title={card.data?.dp_per_s_unknown_reason}>
            {card.data ? num(card.data.dp_per_s, 1) : "…"}
          </dd>
        </div>
        <div>
          <dt>Monthly cost</dt>
          <dd data-testid="cost" title={m?.monthly_cost_unknown_reason}>
            {cost.data ? money(m?.monthly_cost, cost.data.catalog?.currency || "USD") : "…"}
          </dd>
          <dd className="muted small">{m ? `${m.model}, per ${m.unit}` : ""}</dd>
        </div>
        <div>
          <dt>Metrics</dt>
          <dd>{card.data ? compact(card.data.metrics.length) : "…"}</dd>
        </div>
      </dl>
      {xs.length > 1 ? <TimeChart label="active series" xs={xs} ys={ys} height={120} /> : <p className="muted small">The trend appears as rollups arrive (every 10 s).</p>}
    </article>
  );
}
