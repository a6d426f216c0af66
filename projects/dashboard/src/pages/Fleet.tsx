import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useLive } from "../api/hooks";
import { atLeast, useAuth } from "../auth";
import { ErrorBox, Query } from "../components/States";
import { ago } from "../format";

function Health({ a }: { a: Schemas["Agent"] }) {
  const h = !a.connected ? "unreachable" : a.healthy === true ? "ok" : a.healthy === false ? "degraded" : "unknown";
  const text = !a.connected ? "disconnected" : a.healthy === true ? "healthy" : a.healthy === false ? "unhealthy" : "unknown";
  return (
    <span title={a.healthy_unknown_reason || a.last_error || a.health_status}>
      <span className={`dot ${h}`} aria-hidden /> {text}
    </span>
  );
}

export default function Fleet() {
  const agents = useQuery({ queryKey: ["agents"], queryFn: async () => unwrap(await api.GET("/api/v1/agents", { params: { query: { limit: 500 } } })) });
  useLive("agents", [["agents"]]);
  return (
    <>
      <header className="page-head">
        <h1>Fleet</h1>
      </header>
      <Query q={agents} what="agents" empty={(d) => d.items.length === 0 && "No agent has connected. Start one with `phoenix agent`."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="agents">
              <thead>
                <tr>
                  <th scope="col">Agent</th>
                  <th scope="col">Team</th>
                  <th scope="col">Health</th>
                  <th scope="col">Effective config</th>
                  <th scope="col">Remote config</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((a) => (
                  <tr key={a.id}>
                    <th scope="row">
                      <Link to={`/fleet/${encodeURIComponent(a.id)}`}>{a.hostname || a.id}</Link>
                      <div className="muted small">{a.agent_version}</div>
                    </th>
                    <td>{a.team}</td>
                    <td>
                      <Health a={a} />
                    </td>
                    <td>
                      <code title={a.effective_config_hash}>{short(a.effective_config_hash)}</code>
                      {a.pipeline_id && (
                        <div className="small">
                          <Link to={`/pipelines/${encodeURIComponent(a.pipeline_id)}`}>pipeline v{a.pipeline_version}</Link>
                        </div>
                      )}
                    </td>
                    <td className={a.remote_config_status === "failed" ? "bad" : ""} title={a.remote_config_error}>
                      {a.remote_config_status || "—"}
                    </td>
                    <td>{ago(a.last_seen)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      <Rollouts />
    </>
  );
}

/** stepLabel says where a rollout is: "step 2 of 3 (50 %)", or "all agents". */
export function stepLabel(r: Schemas["Rollout"]): string {
  if (r.strategy === "all" || r.steps.length === 0) return "all agents at once";
  const i = Math.min(r.progress.step, r.steps.length - 1);
  return `step ${i + 1} of ${r.steps.length} (${r.steps[i]} %)${r.progress.pausing ? ", pausing" : ""}`;
}

/**
 * Rollouts of the fleet, live over topic `rollouts`: the controller's
 * rollout runner publishes an event (kind rollout) on every write of a
 * rollout (docs/architecture.md), and each refreshes the list.
 */
function Rollouts() {
  const { me } = useAuth();
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ["rollouts"], queryFn: async () => unwrap(await api.GET("/api/v1/rollouts", { params: { query: { limit: 500 } } })) });
  useLive("rollouts", [["rollouts"]]);
  const abort = useMutation({
    mutationFn: async (id: string) => unwrap(await api.POST("/api/v1/rollouts/{id}/abort", { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["rollouts"] }),
  });
  const canAct = atLeast(me?.role, "operator");
  return (
    <section aria-labelledby="rollouts-h">
      <h2 id="rollouts-h">Rollouts</h2>
      <Query q={list} what="rollouts" empty={(d) => d.items.length === 0 && "No rollout yet. A rollout pushes a stored pipeline version to the agents matching a selector."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="rollouts">
              <thead>
                <tr>
                  <th scope="col">Rollout</th>
                  <th scope="col">Pipeline</th>
                  <th scope="col">Selector</th>
                  <th scope="col">Progress</th>
                  <th scope="col">State</th>
                  <th scope="col">Started</th>
                  {canAct && (
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {d.items.map((r) => (
                  <tr key={r.id}>
                    <th scope="row">
                      <code>{r.id}</code>
                      <div className="muted small">{r.team}</div>
                    </th>
                    <td>
                      <Link to={`/pipelines/${encodeURIComponent(r.pipeline_id)}`}>{r.pipeline_id}</Link> v{r.pipeline_version}
                    </td>
                    <td>
                      {Object.entries(r.selector).map(([k, v]) => (
                        <span key={k} className="tag">
                          {k}={v}
                        </span>
                      ))}
                    </td>
                    <td>
                      {stepLabel(r)}
                      <div className="muted small">
                        {r.progress.agents.length} agent{r.progress.agents.length === 1 ? "" : "s"}
                        {r.progress.restored && ", previous configs restored"}
                        {r.progress.note && `; ${r.progress.note}`}
                      </div>
                    </td>
                    <td className={r.state === "rolled_back" || r.state === "aborted" ? "bad" : r.state === "succeeded" ? "good" : ""}>
                      {r.state}
                      {r.reason && <div className="small">{r.reason}</div>}
                    </td>
                    <td>
                      {ago(r.created_at)} <span className="muted">by {r.created_by}</span>
                    </td>
                    {canAct && (
                      <td>
                        {r.state === "rolling" && (
                          <button type="button" className="secondary" disabled={abort.isPending} onClick={() => confirm(`Abort rollout ${r.id}?`) && abort.mutate(r.id)}>
                            Abort<span className="sr-only"> {r.id}</span>
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      <ErrorBox error={abort.error} />
      {canAct && <NewRollout />}
    </section>
  );
}

function NewRollout() {
  const qc = useQueryClient();
  const pipelines = useQuery({ queryKey: ["pipelines"], queryFn: async () => unwrap(await api.GET("/api/v1/pipelines", { params: { query: { limit: 500 } } })) });
  const [f, setF] = useState({ pipeline_id: "", version: "", selector: "", strategy: "all" as "all" | "staged", steps: "10, 50, 100", pause: "30s" });
  const create = useMutation({
    mutationFn: async () => {
      const selector = Object.fromEntries(
        f.selector
          .split(",")
          .map((p) => p.trim())
          .filter(Boolean)
          .map((p) => {
            const [k, ...v] = p.split("=");
            return [k.trim(), v.join("=").trim()];
          }),
      );
      return unwrap(
        await api.POST("/api/v1/rollouts", {
          body: {
            pipeline_id: f.pipeline_id,
            version: f.version ? Number(f.version) : undefined,
            selector,
            strategy: f.strategy,
            ...(f.strategy === "staged"
              ? {
                  steps: f.steps
                    .split(",")
                    .map((x) => x.trim())
                    .filter(Boolean)
                    .map(Number),
                  pause: f.pause,
                }
              : {}),
          },
        }),
      );
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: ["rollouts"] }),
  });
  return (
    <form
      className="panel"
      aria-labelledby="new-rollout-h"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <h3 id="new-rollout-h">Roll out a pipeline</h3>
      <div className="row wrap">
        <label className="inline">
          Pipeline
          <select value={f.pipeline_id} onChange={(e) => setF({ ...f, pipeline_id: e.target.value })} required>
            <option value="">choose…</option>
            {(pipelines.data?.items ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} (v{p.version})
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Version
          <input inputMode="numeric" size={4} value={f.version} placeholder="latest" onChange={(e) => setF({ ...f, version: e.target.value })} />
        </label>
        <label className="inline">
          Agent labels
          <input value={f.selector} placeholder="env=dev, region=eu" onChange={(e) => setF({ ...f, selector: e.target.value })} required />
        </label>
        <label className="inline">
          Strategy
          <select value={f.strategy} onChange={(e) => setF({ ...f, strategy: e.target.value as "all" | "staged" })}>
            <option value="all">all at once</option>
            <option value="staged">staged</option>
          </select>
        </label>
        {f.strategy === "staged" && (
          <>
            <label className="inline">
              Steps %
              <input value={f.steps} onChange={(e) => setF({ ...f, steps: e.target.value })} />
            </label>
            <label className="inline">
              Pause
              <input size={5} value={f.pause} onChange={(e) => setF({ ...f, pause: e.target.value })} />
            </label>
          </>
        )}
        <button type="submit" disabled={create.isPending}>
          Start rollout
        </button>
      </div>
      <ErrorBox error={create.error} />
    </form>
  );
}

function short(hash: string | undefined): string {
  if (!hash) return "—";
  const h = hash.replace(/^sha256:/, "");
  return h.slice(0, 12);
}

export function AgentDetail() {
  const { id } = useParams();
  const agent = useQuery({ queryKey: ["agents", id], queryFn: async () => unwrap(await api.GET("/api/v1/agents/{id}", { params: { path: { id: id! } } })) });
  const history = useQuery({
    queryKey: ["agents", id, "history"],
    queryFn: async () => unwrap(await api.GET("/api/v1/agents/{id}/history", { params: { path: { id: id! }, query: { limit: 100 } } })),
  });
  useLive("agents", [["agents", id]]);
  return (
    <Query q={agent} what="agent">
      {(a) => (
        <>
          <header className="page-head">
            <h1>{a.hostname || a.id}</h1>
            <Health a={a} />
          </header>
          <dl className="kv">
            <dt>ID</dt>
            <dd>
              <code>{a.id}</code>
            </dd>
            <dt>Team</dt>
            <dd>{a.team}</dd>
            <dt>Effective config hash</dt>
            <dd>
              <code>{a.effective_config_hash || "—"}</code>
            </dd>
            <dt>Remote config</dt>
            <dd>
              {a.remote_config_status || "—"} {a.remote_config_error && <span className="bad">{a.remote_config_error}</span>}
            </dd>
            <dt>Labels</dt>
            <dd>
              {Object.entries(a.labels).map(([k, v]) => (
                <span key={k} className="tag">
                  {k}={v}
                </span>
              ))}
            </dd>
            <dt>Last seen</dt>
            <dd>{ago(a.last_seen)}</dd>
          </dl>
          <h2>History</h2>
          <Query q={history} what="deployments" empty={(h) => h.items.length === 0 && "No config was pushed to this agent."}>
            {(h) => (
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Kind</th>
                      <th scope="col">Config</th>
                      <th scope="col">Status</th>
                      <th scope="col">By</th>
                    </tr>
                  </thead>
                  <tbody>
                    {h.items.map((d) => (
                      <tr key={d.id}>
                        <td>{ago(d.created_at)}</td>
                        <td>
                          {d.kind}
                          {d.pipeline_id && ` ${d.pipeline_id} v${d.pipeline_version}`}
                        </td>
                        <td>
                          <code>{short(d.config_hash)}</code>
                        </td>
                        <td className={d.status === "failed" ? "bad" : ""} title={d.error}>
                          {d.status}
                        </td>
                        <td>
                          {d.created_by}
                          {d.reason && <span className="muted">: {d.reason}</span>}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </Query>
          {a.effective_config && (
            <>
              <h2>Effective config</h2>
              <pre className="code" tabIndex={0}>{a.effective_config}</pre>
            </>
          )}
        </>
      )}
    </Query>
  );
}
