import { useMemo } from "react";
import { useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useLive } from "../api/hooks";
import { atLeast, useAuth } from "../auth";
import { Empty, ErrorBox, Query } from "../components/States";
import { MultiChart, type Line } from "../components/Chart";
import { actions, FINAL_STATES, rollupStep, variantStreams, type Action, type ExperimentState } from "../experiment";
import { ago, money, num } from "../format";

type Experiment = Schemas["Experiment"];

const STATES: ExperimentState[] = [
  "draft",
  "pending",
  "deploying",
  "warming",
  "running",
  "analyzing",
  "succeeded",
  "failed",
  "inconclusive",
  "promoting",
  "promoted",
  "rolled_back",
  "cancelled",
  "errored",
];

export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`badge st-${state}`} data-testid="state">
      {state.replace("_", " ")}
    </span>
  );
}

/** The experiments list, refreshed by events on the `experiments` topic. */
export default function Experiments() {
  const { me } = useAuth();
  const [params, setParams] = useSearchParams();
  const state = (params.get("state") || undefined) as ExperimentState | undefined;
  const list = useQuery({
    queryKey: ["experiments", state],
    queryFn: async () => unwrap(await api.GET("/api/v1/experiments", { params: { query: { limit: 500, state } } })),
  });
  useLive("experiments", [["experiments"]]);
  return (
    <>
      <header className="page-head">
        <h1>Experiments</h1>
        <div className="row">
          <label className="inline">
            State
            <select value={state ?? ""} onChange={(e) => setParams(e.target.value ? { state: e.target.value } : {})}>
              <option value="">any</option>
              {STATES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          {atLeast(me?.role, "operator") && (
            <Link className="button" to="/experiments/new">
              New experiment
            </Link>
          )}
        </div>
      </header>
      <Query
        q={list}
        what="experiments"
        empty={(d) => d.items.length === 0 && (state ? `No experiment is ${state}.` : "No experiment yet. Create one to prove a cheaper pipeline on live traffic.")}
      >
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="experiments">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Team</th>
                  <th scope="col">Winner</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((x) => (
                  <tr key={x.id}>
                    <th scope="row">
                      <Link to={`/experiments/${encodeURIComponent(x.id)}`}>{x.name}</Link>
                      {x.progress.note && <div className="muted small">{x.progress.note}</div>}
                    </th>
                    <td>
                      <StateBadge state={x.state} />
                    </td>
                    <td>{x.team}</td>
                    <td>{x.results?.winner || "—"}</td>
                    <td>
                      {ago(x.updated_at)} <span className="muted">by {x.created_by}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
    </>
  );
}

const ACTION_LABEL: Record<Action, string> = {
  start: "Start",
  stop: "Stop",
  approve: "Approve promotion",
  promote: "Promote winner",
  rollback: "Roll back",
  delete: "Delete draft",
};

/** One experiment: state and actions, live charts per variant, the verdict's criteria and the event timeline. */
export function ExperimentDetail() {
  const { id } = useParams();
  const { me } = useAuth();
  const qc = useQueryClient();
  const nav = useNavigate();
  const exp = useQuery({
    queryKey: ["experiment", id],
    queryFn: async () => unwrap(await api.GET("/api/v1/experiments/{id}", { params: { path: { id: id! } } })),
  });
  const events = useQuery({
    queryKey: ["experiment", id, "events"],
    queryFn: async () => unwrap(await api.GET("/api/v1/experiments/{id}/events", { params: { path: { id: id! }, query: { limit: 500 } } })),
  });
  // Each transition also refreshes the variants' numbers: a variant's
  // rollups may have been read before its first rollup was stored.
  useLive(id ? `experiment:${id}` : undefined, [["experiment", id], ["experiments"], ["streams"], ["rollups"], ["cost"]]);
  const act = useMutation({
    mutationFn: async (a: Action) => {
      const path = { params: { path: { id: id! } } };
      switch (a) {
        case "start":
          return unwrap(await api.POST("/api/v1/experiments/{id}/start", path));
        case "stop":
          return unwrap(await api.POST("/api/v1/experiments/{id}/stop", path));
        case "approve":
          return unwrap(await api.POST("/api/v1/experiments/{id}/approve", path));
        case "promote":
          return unwrap(await api.POST("/api/v1/experiments/{id}/promote", path));
        case "rollback":
          return unwrap(await api.POST("/api/v1/experiments/{id}/rollback", path));
        case "delete":
          unwrap(await api.DELETE("/api/v1/experiments/{id}", path));
          return null;
      }
    },
    onSuccess: (x, a) => {
      void qc.invalidateQueries({ queryKey: ["experiments"] });
      if (a === "delete") {
        nav("/experiments");
        return;
      }
      if (x) qc.setQueryData(["experiment", id], x);
      void qc.invalidateQueries({ queryKey: ["experiment", id] });
    },
  });
  return (
    <Query q={exp} what="experiment">
      {(x) => {
        const doc = x.spec as { metadata?: { description?: string }; spec?: { on_success?: string; criteria?: { price_model?: string } } };
        const allowed = actions(x.state, doc.spec?.on_success);
        const live = !FINAL_STATES.includes(x.state) && x.state !== "draft";
        return (
          <>
            <p className="crumbs">
              <Link to="/experiments">Experiments</Link> /
            </p>
            <header className="page-head">
              <h1>{x.name}</h1>
              <StateBadge state={x.state} />
            </header>
            {doc.metadata?.description && <p>{doc.metadata.description}</p>}
            <div className="row wrap" role="group" aria-label="Experiment actions">
              {atLeast(me?.role, "operator") ? (
                allowed.map((a) => (
                  <button
                    key={a}
                    type="button"
                    className={a === "stop" || a === "rollback" || a === "delete" ? "secondary" : ""}
                    disabled={act.isPending}
                    onClick={() => (a === "start" || confirm(`${ACTION_LABEL[a]} ${x.name}?`)) && act.mutate(a)}
                  >
                    {ACTION_LABEL[a]}
                  </button>
                ))
              ) : (
                <span className="muted small">Starting, stopping and promoting need the operator role.</span>
              )}
            </div>
            <ErrorBox error={act.error} />
            <dl className="kv">
              <dt>Team</dt>
              <dd>{x.team}</dd>
              <dt>Agents</dt>
              <dd>{x.progress.agents.length ? x.progress.agents.join(", ") : "none selected yet"}</dd>
              {x.progress.phase_started && (
                <>
                  <dt>In {x.state} since</dt>
                  <dd>{ago(x.progress.phase_started)}</dd>
                </>
              )}
              {x.progress.window_from && (
                <>
                  <dt>Measured window</dt>
                  <dd>
                    {new Date(x.progress.window_from).toLocaleTimeString()} – {x.progress.window_to ? new Date(x.progress.window_to).toLocaleTimeString() : "now"}
                  </dd>
                </>
              )}
              {x.progress.note && (
                <>
                  <dt>Waiting</dt>
                  <dd>{x.progress.note}</dd>
                </>
              )}
            </dl>
            <Verdict results={x.results} />
            <h2>Variants</h2>
            {x.state === "draft" ? (
              <Empty>Variant data appears once the experiment is started.</Empty>
            ) : (
              <Variants exp={x} live={live} model={doc.spec?.criteria?.price_model || "self-hosted"} />
            )}
            <h2 id="timeline-h">Timeline</h2>
            <Query q={events} what="events">
              {(d) => (
                <ol className="timeline" aria-labelledby="timeline-h" data-testid="timeline">
                  {d.items.map((t) => (
                    <li key={t.seq}>
                      <time dateTime={t.at}>{new Date(t.at).toLocaleString()}</time>{" "}
                      <strong>
                        {t.from ? `${t.from} → ` : ""}
                        {t.to}
                      </strong>{" "}
                      <span className="muted">
                        {t.event} by {t.actor}
                      </span>
                      {t.reason && <div className="small">{t.reason}</div>}
                    </li>
                  ))}
                </ol>
              )}
            </Query>
            <details>
              <summary>Spec</summary>
              <pre className="code" tabIndex={0}>
                {JSON.stringify(x.spec, null, 2)}
              </pre>
            </details>
          </>
        );
      }}
    </Query>
  );
}

function Verdict({ results }: { results: Experiment["results"] }) {
  if (!results) return null;
  return (
    <section aria-labelledby="verdict-h" className="panel" data-testid="verdict">
      <h2 id="verdict-h">
        Verdict: <span className={results.outcome === "succeeded" ? "good" : results.outcome === "failed" ? "bad" : ""}>{results.outcome}</span>
        {results.winner && <span> (winner {results.winner})</span>}
      </h2>
      {results.reasons.length > 0 && (
        <ul>
          {results.reasons.map((r, i) => (
            <li key={i}>{r}</li>
          ))}
        </ul>
      )}
      {results.candidates.map((c) => (
        <div key={c.name}>
          <h3>
            {c.name} <span className={c.outcome === "passed" ? "good" : c.outcome === "failed" ? "bad" : "muted"}>{c.outcome}</span>{" "}
            <span className="muted small">
              {c.windows} analysis window{c.windows === 1 ? "" : "s"}, stream {c.stream}
            </span>
          </h3>
          <div className="table-wrap" tabIndex={0}>
            <table data-testid={`criteria-${c.name}`}>
              <caption className="sr-only">Criteria of {c.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Criterion</th>
                  <th scope="col" className="num">
                    Measured
                  </th>
                  <th scope="col" className="num">
                    Threshold
                  </th>
                  <th scope="col">Result</th>
                </tr>
              </thead>
              <tbody>
                {c.criteria.map((r) => (
                  <tr key={r.criterion}>
                    <th scope="row">
                      <code>{r.criterion}</code>
                    </th>
                    <td className="num" title={r.measured_unknown_reason}>
                      {r.measured === null || r.measured === undefined ? `unknown${r.measured_unknown_reason ? `: ${r.measured_unknown_reason}` : ""}` : `${num(r.measured, 1)} %`}
                    </td>
                    <td className="num">
                      {r.comparison} {num(r.threshold, 1)} %
                    </td>
                    <td className={r.result === "pass" ? "good" : r.result === "fail" ? "bad" : "muted"}>{r.result}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ))}
    </section>
  );
}

/** LiveStream refreshes a variant stream's queries on its rollup events. */
function LiveStream({ stream, model }: { stream: string; model: string }) {
  useLive(`stream:${stream}`, [["rollups", stream], ["cost", stream, model], ["streams"]]);
  return null;
}

function Variants({ exp, live, model }: { exp: Experiment; live: boolean; model: string }) {
  const vs = useMemo(() => variantStreams(exp.name, exp.spec, exp.results), [exp.name, exp.spec, exp.results]);
  // A variant stream exists once analytics saw data on it; until then its
  // rollups and cost would be 404s. The list refreshes on the experiment's
  // events and on each variant's rollup events.
  const streams = useQuery({ queryKey: ["streams", 500], queryFn: async () => unwrap(await api.GET("/api/v1/streams", { params: { query: { limit: 500 } } })) });
  const known = new Set((streams.data?.items ?? []).map((s) => s.stream));
  // Go writes nanoseconds; Date.parse is only sure of milliseconds.
  const ms = (iso: string) => Date.parse(iso.replace(/(\.\d{3})\d+/, "$1"));
  const from = ms(exp.created_at);
  const to = live ? undefined : ms(exp.progress.window_to || exp.updated_at);
  const step = rollupStep(from, to ?? Date.now());
  const rollups = useQueries({
    queries: vs.map((v) => ({
      queryKey: ["rollups", v.stream, exp.id, to ?? "live"],
      enabled: known.has(v.stream),
      staleTime: live ? 0 : Infinity,
      queryFn: async () =>
        unwrap(
          await api.GET("/api/v1/streams/{stream}/rollups", {
            params: {
              path: { stream: v.stream },
              query: { from: new Date(from).toISOString(), to: to ? new Date(to).toISOString() : undefined, step },
            },
          }),
        ),
    })),
  });
  const costs = useQueries({
    queries: vs.map((v) => ({
      queryKey: ["cost", v.stream, model],
      enabled: known.has(v.stream),
      queryFn: async () => unwrap(await api.GET("/api/v1/cost", { params: { query: { stream: v.stream, model } } })),
      retry: false,
    })),
  });
  const series: Line[] = [];
  const dps: Line[] = [];
  vs.forEach((v, i) => {
    const items = rollups[i].data?.items ?? [];
    // A bucket may carry only one of start and end; its length is then the step.
    const at = (r: Schemas["Rollup"]) => Date.parse((r.end ?? r.start)!) / 1000;
    const secs = (r: Schemas["Rollup"]) => (r.end && r.start ? (Date.parse(r.end) - Date.parse(r.start)) / 1000 : parseInt(step, 10));
    const pts = items.filter((r) => r.end || r.start);
    series.push({ label: v.variant, xs: pts.map(at), ys: pts.map((r) => r.active_series ?? 0) });
    dps.push({ label: v.variant, xs: pts.map(at), ys: pts.map((r) => (r.datapoints ?? 0) / Math.max(1, secs(r))) });
  });
  const hasData = series.some((l) => l.xs.length > 1);
  const baseCost = costs[0]?.data?.models?.[0]?.monthly_cost;
  return (
    <>
      {live && vs.map((v) => <LiveStream key={v.stream} stream={v.stream} model={model} />)}
      <div className="table-wrap" tabIndex={0}>
        <table data-testid="variants">
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col" className="num">
                Active series
              </th>
              <th scope="col" className="num">
                Datapoints/s
              </th>
              <th scope="col" className="num">
                Monthly cost ({model})
              </th>
              <th scope="col" className="num">
                vs. baseline
              </th>
            </tr>
          </thead>
          <tbody>
            {vs.map((v, i) => {
              const c = costs[i];
              const m = c.data?.models?.[0];
              const last = series[i].ys.at(-1);
              const waiting = !known.has(v.stream);
              return (
                <tr key={v.variant}>
                  <th scope="row">
                    {v.variant} <span className="muted small">{v.stream}</span>
                  </th>
                  {waiting ? (
                    <td className="muted" colSpan={3}>
                      {streams.isPending ? "…" : "no data on this stream yet"}
                    </td>
                  ) : (
                    <>
                      <td className="num">{rollups[i].isPending ? "…" : num(last)}</td>
                      <td className="num">{rollups[i].isPending ? "…" : num(dps[i].ys.at(-1), 1)}</td>
                      <td className="num" title={m?.monthly_cost_unknown_reason || (c.error instanceof Error ? c.error.message : undefined)}>
                        {c.isPending ? "…" : c.error ? "unknown" : money(m?.monthly_cost, c.data?.catalog?.currency || "USD")}
                      </td>
                    </>
                  )}
                  <td className="num">
                    {i > 0 && typeof m?.monthly_cost === "number" && typeof baseCost === "number" && baseCost > 0
                      ? `${num((1 - m.monthly_cost / baseCost) * 100, 1)} % cheaper`
                      : ""}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {rollups.map((r, i) => (r.error ? <ErrorBox key={vs[i].stream} error={r.error} /> : null))}
      {hasData ? (
        <div className="grid2">
          <section className="panel" aria-label="Active series per variant">
            <h3>Active series</h3>
            <MultiChart title="active series" lines={series} />
          </section>
          <section className="panel" aria-label="Datapoints per second per variant">
            <h3>Datapoints/s</h3>
            <MultiChart title="datapoints per second" lines={dps} />
          </section>
        </div>
      ) : (
        <p className="muted small">The charts appear once the variant streams have two rollups (every 10 s).</p>
      )}
    </>
  );
}
