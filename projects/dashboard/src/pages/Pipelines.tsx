import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { Empty, Query } from "../components/States";
import { ago } from "../format";
import { atLeast, useAuth } from "../auth";

export default function Pipelines() {
  const { me } = useAuth();
  const list = useQuery({ queryKey: ["pipelines"], queryFn: async () => unwrap(await api.GET("/api/v1/pipelines", { params: { query: { limit: 500 } } })) });
  return (
    <>
      <header className="page-head">
        <h1>Pipelines</h1>
        <Link className="button" to="/pipelines/new">
          {atLeast(me?.role, "operator") ? "New pipeline" : "Open the builder"}
        </Link>
      </header>
      <Query q={list} what="pipelines" empty={(d) => d.items.length === 0 && "No pipeline saved yet. Build one from a template."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Team</th>
                  <th scope="col" className="num">
                    Version
                  </th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((p) => (
                  <tr key={p.id}>
                    <th scope="row">
                      <Link to={`/pipelines/${encodeURIComponent(p.id)}`}>{p.name}</Link>
                    </th>
                    <td>{p.team}</td>
                    <td className="num">v{p.version}</td>
                    <td>
                      {ago(p.updated_at)} by {p.updated_by}
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

export function PipelineDetail() {
  const { id } = useParams();
  const { me } = useAuth();
  const p = useQuery({ queryKey: ["pipeline", id], queryFn: async () => unwrap(await api.GET("/api/v1/pipelines/{id}", { params: { path: { id: id! } } })) });
  const versions = useQuery({
    queryKey: ["pipeline", id, "versions"],
    queryFn: async () => unwrap(await api.GET("/api/v1/pipelines/{id}/versions", { params: { path: { id: id! }, query: { limit: 500 } } })),
  });
  const [from, setFrom] = useState<number | undefined>();
  const [to, setTo] = useState<number | undefined>();
  const diff = useQuery({
    queryKey: ["pipeline", id, "diff", from, to],
    enabled: (p.data?.version ?? 0) > 1,
    queryFn: async () => unwrap(await api.GET("/api/v1/pipelines/{id}/diff", { params: { path: { id: id! }, query: { from, to } } })),
  });
  return (
    <Query q={p} what="pipeline">
      {(pl) => (
        <>
          <header className="page-head">
            <h1>{pl.name}</h1>
            {atLeast(me?.role, "operator") && (
              <Link className="button" to={`/pipelines/${encodeURIComponent(pl.id)}/edit`}>
                New version
              </Link>
            )}
          </header>
          <p className="muted">
            Team {pl.team}, version {pl.version}, {pl.config_hash}. {pl.description}
          </p>
          <div className="grid2">
            <section aria-labelledby="versions-h">
              <h2 id="versions-h">Versions</h2>
              <Query q={versions} what="versions">
                {(d) => (
                  <ol className="versions" reversed>
                    {d.items.map((v) => (
                      <li key={v.version}>
                        <strong>v{v.version}</strong> {ago(v.created_at)} by {v.created_by}
                        {v.reason && <span className="muted">: {v.reason}</span>}
                      </li>
                    ))}
                  </ol>
                )}
              </Query>
            </section>
            <section aria-labelledby="diff-h">
              <h2 id="diff-h">Diff</h2>
              {pl.version < 2 ? (
                <Empty>One version so far: save another to compare.</Empty>
              ) : (
                <>
                  <div className="row">
                    <label className="inline">
                      From
                      <VersionSelect max={pl.version} value={from ?? pl.version - 1} onChange={setFrom} />
                    </label>
                    <label className="inline">
                      To
                      <VersionSelect max={pl.version} value={to ?? pl.version} onChange={setTo} />
                    </label>
                  </div>
                  <Query q={diff} what="diff">
                    {(d) => (d.diff ? <Diff text={d.diff} /> : <Empty>The versions are equal.</Empty>)}
                  </Query>
                </>
              )}
            </section>
          </div>
          <h2>Config (v{pl.version})</h2>
          <pre className="code" tabIndex={0}>{pl.config}</pre>
        </>
      )}
    </Query>
  );
}

function VersionSelect({ max, value, onChange }: { max: number; value: number; onChange: (v: number) => void }) {
  return (
    <select value={value} onChange={(e) => onChange(Number(e.target.value))}>
      {Array.from({ length: max }, (_, i) => i + 1).map((v) => (
        <option key={v} value={v}>
          v{v}
        </option>
      ))}
    </select>
  );
}

function Diff({ text }: { text: string }) {
  return (
    <pre className="code diff" data-testid="diff" tabIndex={0}>
      {text.split("\n").map((l, i) => (
        <span key={i} className={l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : l.startsWith("@@") ? "hunk" : ""}>
          {l}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}
