import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useLive } from "../api/hooks";
import { Query } from "../components/States";
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
    </>
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
