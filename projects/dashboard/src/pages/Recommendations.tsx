import { useQuery } from "@tanstack/react-query";
import { useNavigate, useSearchParams } from "react-router-dom";
import { api, unwrap } from "../api/client";
import { useLive } from "../api/hooks";
import { Query } from "../components/States";
import { money, num } from "../format";
import { PRICE_MODELS } from "../models";

/** matches: a rule without a metric applies to every metric of the stream. */
export function matches(ruleMetric: string, filter: string): boolean {
  return !filter || !ruleMetric || ruleMetric.includes(filter);
}

export default function Recommendations() {
  const [params, setParams] = useSearchParams();
  const nav = useNavigate();
  const stream = params.get("stream") || "default";
  const metric = params.get("metric") || "";
  const model = params.get("model") || localStorage.getItem("phoenix.model") || "self-hosted";
  const streams = useQuery({ queryKey: ["streams"], queryFn: async () => unwrap(await api.GET("/api/v1/streams")) });
  const recs = useQuery({
    queryKey: ["recommendations", stream, model],
    queryFn: async () => unwrap(await api.GET("/api/v1/recommendations", { params: { query: { stream, model } } })),
  });
  useLive(`stream:${stream}`, [["recommendations", stream]]);
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(params);
    if (v) n.set(k, v);
    else n.delete(k);
    setParams(n);
  };
  return (
    <>
      <header className="page-head">
        <h1>Recommendations</h1>
        <div className="row">
          <label className="inline">
            Stream
            <select value={stream} onChange={(e) => set("stream", e.target.value)}>
              {(streams.data?.items ?? [{ stream }]).map((s) => (
                <option key={s.stream}>{s.stream}</option>
              ))}
            </select>
          </label>
          <label className="inline">
            Price model
            <select value={model} onChange={(e) => set("model", e.target.value)}>
              {PRICE_MODELS.map((m) => (
                <option key={m}>{m}</option>
              ))}
            </select>
          </label>
          <label className="inline">
            Metric
            <input type="search" value={metric} onChange={(e) => set("metric", e.target.value)} placeholder="all" />
          </label>
        </div>
      </header>
      <Query
        q={recs}
        what="recommendations"
        empty={(r) => r.items.filter((i) => matches(i.metric, metric)).length === 0 && `No rule to recommend for ${metric || stream} right now.`}
      >
        {(r) => {
          const items = r.items.filter((i) => matches(i.metric, metric)).sort((a, b) => (b.monthly_saving_estimate ?? 0) - (a.monthly_saving_estimate ?? 0));
          return (
            <>
              <p className="muted">
                {num(r.active_series)} active series in {r.stream}; savings under {r.model}.
                {r.unused_metrics.length > 0 && ` ${r.unused_metrics.length} metrics are used by no dashboard or alert.`}
              </p>
              <div className="table-wrap" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Rule</th>
                      <th scope="col">Metric</th>
                      <th scope="col" className="num">
                        Series before → after
                      </th>
                      <th scope="col" className="num">
                        Monthly saving
                      </th>
                      <th scope="col">Risk</th>
                      <th scope="col">
                        <span className="sr-only">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((i) => (
                      <tr key={i.id}>
                        <th scope="row">
                          {i.kind}
                          {i.labels.length > 0 && <span className="muted"> {i.labels.join(", ")}</span>}
                          <div className="muted small">{i.reason}</div>
                        </th>
                        <td>
                          {i.metric ? <code>{i.metric}</code> : <span className="muted">every metric</span>}
                        </td>
                        <td className="num" title={i.series_after_estimate_unknown_reason}>
                          {num(i.series_before)} → {num(i.series_after_estimate)}
                        </td>
                        <td className="num" title={i.monthly_saving_estimate_unknown_reason}>
                          {money(i.monthly_saving_estimate)}
                        </td>
                        <td>
                          <span className={`risk ${i.risk}`}>{i.risk}</span>
                        </td>
                        <td>
                          {i.strategy && (
                            <div className="row">
                              <button type="button" onClick={() => nav("/pipelines/new", { state: { strategies: [i.strategy] } })}>
                                Build a pipeline
                              </button>
                              <button type="button" className="secondary" onClick={() => nav("/experiments/new", { state: { strategies: [i.strategy] } })}>
                                Try it in an experiment
                              </button>
                            </div>
                          )}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          );
        }}
      </Query>
    </>
  );
}
