import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useLive } from "../api/hooks";
import { Empty, Query } from "../components/States";
import { num, pct } from "../format";

type Report = Schemas["CardinalityReport"];
type Metric = Report["metrics"][number];

export default function Cardinality() {
  const { stream, metric } = useParams();
  const nav = useNavigate();
  const streams = useQuery({ queryKey: ["streams"], queryFn: async () => unwrap(await api.GET("/api/v1/streams")) });
  const report = useQuery({
    queryKey: ["cardinality", stream, 10],
    enabled: !!stream,
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/streams/{stream}/cardinality", { params: { path: { stream: stream! }, query: { top_values: 10 } } })),
  });
  useLive(stream ? `stream:${stream}` : undefined, [["cardinality", stream]]);

  return (
    <>
      <header className="page-head">
        <h1>Cardinality</h1>
        <Query q={streams} what="streams">
          {(d) => (
            <label className="inline">
              Stream
              <select value={stream ?? ""} onChange={(e) => nav(`/cardinality/${encodeURIComponent(e.target.value)}`)}>
                <option value="" disabled>
                  choose…
                </option>
                {d.items.map((s) => (
                  <option key={s.stream}>{s.stream}</option>
                ))}
              </select>
            </label>
          )}
        </Query>
      </header>
      {!stream ? (
        <Empty>Choose a stream to see which metrics and labels make its series.</Empty>
      ) : (
        <Query q={report} what={`cardinality of ${stream}`} empty={(r) => r.metrics.length === 0 && `Stream ${stream} has no active series.`}>
          {(r) => (metric ? <MetricDetail report={r} name={metric} /> : <MetricList report={r} />)}
        </Query>
      )}
    </>
  );
}

/** driver is the label with the most distinct values: the one that makes the series. */
export function driver(m: Metric): Metric["labels"][number] | undefined {
  return [...m.labels].sort((a, b) => b.distinct_values - a.distinct_values)[0];
}

function MetricList({ report }: { report: Report }) {
  const [filter, setFilter] = useState("");
  const rows = report.metrics
    .filter((m) => m.name.includes(filter))
    .sort((a, b) => b.series - a.series);
  const max = rows[0]?.series || 1;
  return (
    <section aria-labelledby="metrics-h">
      <p className="muted">
        {num(report.active_series)} active series{report.exact ? "" : ` (±${pct(report.error_bound)})`}, {num(report.dp_per_s, 1)} datapoints/s.
      </p>
      <h2 id="metrics-h">Metrics by series</h2>
      <label className="inline">
        Filter
        <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="metric name" />
      </label>
      {rows.length === 0 ? (
        <Empty>No metric matches “{filter}”.</Empty>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" className="num">
                  Series
                </th>
                <th scope="col">Share</th>
                <th scope="col" className="num">
                  dp/s
                </th>
                <th scope="col">Driving label</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => {
                const d = driver(m);
                return (
                  <tr key={m.name}>
                    <th scope="row">
                      <Link to={`/cardinality/${encodeURIComponent(report.stream)}/${encodeURIComponent(m.name)}`}>{m.name}</Link>
                    </th>
                    <td className="num">{num(m.series)}</td>
                    <td>
                      <Bar share={m.series / max} />
                    </td>
                    <td className="num">{num(m.dp_per_s, 1)}</td>
                    <td>{d ? `${d.name} (${num(d.distinct_values)})` : "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Bar({ share }: { share: number }) {
  return (
    <span className="bar" role="img" aria-label={pct(share)}>
      <span style={{ width: `${Math.max(1, Math.min(100, share * 100))}%` }} />
    </span>
  );
}

function MetricDetail({ report, name }: { report: Report; name: string }) {
  const m = report.metrics.find((x) => x.name === name);
  if (!m) return <Empty>Metric {name} has no active series in {report.stream}.</Empty>;
  const labels = [...m.labels].sort((a, b) => b.distinct_values - a.distinct_values);
  return (
    <section aria-labelledby="metric-h">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to={`/cardinality/${encodeURIComponent(report.stream)}`}>{report.stream}</Link> / <span>{m.name}</span>
      </nav>
      <h2 id="metric-h">{m.name}</h2>
      <p className="muted">
        {num(m.series)} series, {m.type ?? "unknown"} type, {num(m.dp_per_s, 1)} datapoints/s.{" "}
        <Link to={`/recommendations?stream=${encodeURIComponent(report.stream)}&metric=${encodeURIComponent(m.name)}`}>
          Recommend a rule for this →
        </Link>
      </p>
      <h3>Labels by distinct values</h3>
      {labels.length === 0 ? (
        <Empty>This metric has no labels.</Empty>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table data-testid="labels">
            <thead>
              <tr>
                <th scope="col">Label</th>
                <th scope="col">Scope</th>
                <th scope="col" className="num">
                  Distinct values
                </th>
                <th scope="col">Share of series</th>
                <th scope="col">Top values</th>
              </tr>
            </thead>
            <tbody>
              {labels.map((l) => (
                <tr key={`${l.scope}:${l.name}`}>
                  <th scope="row">{l.name}</th>
                  <td>{l.scope ?? ""}</td>
                  <td className="num">{num(l.distinct_values)}</td>
                  <td>
                    <Bar share={l.share} /> {pct(l.share)}
                  </td>
                  <td>
                    <ul className="values">
                      {l.top_values.map((v, i) => (
                        <li key={i}>
                          <code title={v.value}>{v.value || "(empty)"}</code> <span className="muted">{num(v.series)}</span>
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
