import { Fragment, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { api, unwrap, type Schemas } from "../api/client";
import { useLive } from "../api/hooks";
import { atLeast, useAuth } from "../auth";
import { ErrorBox, Query } from "../components/States";
import { ago, num } from "../format";
import { AlertDeliveries, Silences } from "./Notify";

type Alert = Schemas["Alert"];
type AlertState = Alert["state"];
const STATES: AlertState[] = ["firing", "acknowledged", "resolved"];
const SEVERITIES: Alert["severity"][] = ["critical", "high", "medium", "low"];

/** filterAlerts applies the filters the API does not take (severity, rule) to a page of alerts. */
export function filterAlerts(items: Alert[], severity: string, rule: string): Alert[] {
  return items.filter((a) => (!severity || a.severity === severity) && (!rule || a.rule === rule));
}

/**
 * Alerts with filters (state and stream by the API; severity and rule here), ack/resolve by role, live over topic `alerts`;
 * each alert's notification deliveries on demand; the silences below.
 */
export default function Alerts() {
  const { me } = useAuth();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const [open, setOpen] = useState<string | null>(null);
  const state = (params.get("state") || undefined) as AlertState | undefined;
  const stream = params.get("stream") || undefined;
  const severity = params.get("severity") || "";
  const rule = params.get("rule") || "";
  const list = useQuery({
    queryKey: ["alerts", state, stream],
    queryFn: async () => unwrap(await api.GET("/api/v1/alerts", { params: { query: { state, stream, limit: 500 } } })),
  });
  const streams = useQuery({ queryKey: ["streams"], queryFn: async () => unwrap(await api.GET("/api/v1/streams")) });
  useLive("alerts", [["alerts"]]);
  const act = useMutation({
    mutationFn: async ({ id, verb }: { id: string; verb: "ack" | "resolve" }) =>
      verb === "ack"
        ? unwrap(await api.POST("/api/v1/alerts/{id}/ack", { params: { path: { id } } }))
        : unwrap(await api.POST("/api/v1/alerts/{id}/resolve", { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["alerts"] }),
  });
  const setFilter = (k: string, v: string) => {
    const next = new URLSearchParams(params);
    if (v) next.set(k, v);
    else next.delete(k);
    setParams(next, { replace: true });
  };
  const canAct = atLeast(me?.role, "operator");
  return (
    <>
      <header className="page-head">
        <h1>Alerts</h1>
      </header>
      <form className="row wrap filters" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
        <label className="inline">
          State
          <select value={state ?? ""} onChange={(e) => setFilter("state", e.target.value)}>
            <option value="">any</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          Stream
          <select value={stream ?? ""} onChange={(e) => setFilter("stream", e.target.value)}>
            <option value="">any</option>
            {(streams.data?.items ?? []).map((s) => (
              <option key={s.stream}>{s.stream}</option>
            ))}
            {stream && !streams.data?.items.some((s) => s.stream === stream) && <option>{stream}</option>}
          </select>
        </label>
        <label className="inline">
          Severity
          <select value={severity} onChange={(e) => setFilter("severity", e.target.value)}>
            <option value="">any</option>
            {SEVERITIES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label className="inline">
          Rule
          <select value={rule} onChange={(e) => setFilter("rule", e.target.value)}>
            <option value="">any</option>
            <option>explosion</option>
            <option>anomaly</option>
          </select>
        </label>
      </form>
      <ErrorBox error={act.error} />
      <Query
        q={list}
        what="alerts"
        empty={(d) => filterAlerts(d.items, severity, rule).length === 0 && "No alert matches. Alerts appear here as the anomaly detector raises them."}
      >
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="alerts">
              <thead>
                <tr>
                  <th scope="col">Severity</th>
                  <th scope="col">Alert</th>
                  <th scope="col">Stream</th>
                  <th scope="col" className="num">
                    Value (baseline)
                  </th>
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
                {filterAlerts(d.items, severity, rule).map((a) => (
                  <Fragment key={a.id}>
                  <tr data-alert={a.id}>
                    <td>
                      <span className={`sev ${a.severity}`}>{a.severity}</span>
                    </td>
                    <th scope="row">
                      {a.summary}
                      <div className="muted small">
                        {a.rule}
                        {a.signal && ` on ${a.signal}`}
                        {a.metric && (
                          <>
                            {" "}
                            · <Link to={`/cardinality/${encodeURIComponent(a.stream)}/${encodeURIComponent(a.metric)}`}>{a.metric}</Link>
                          </>
                        )}
                        {a.label && ` · label ${a.label}`}
                      </div>
                      <button type="button" className="link plain small" aria-expanded={open === a.id} onClick={() => setOpen(open === a.id ? null : a.id)}>
                        Deliveries<span className="sr-only"> of {a.summary}</span>
                      </button>
                    </th>
                    <td>{a.stream}</td>
                    <td className="num">
                      {num(a.value)} <span className="muted">({num(a.baseline)})</span>
                    </td>
                    <td data-testid="alert-state">
                      {a.state}
                      {a.state === "acknowledged" && a.acknowledged_by && <div className="muted small">by {a.acknowledged_by}</div>}
                      {a.state === "resolved" && a.resolved_by && <div className="muted small">by {a.resolved_by}</div>}
                    </td>
                    <td>{ago(a.started_at)}</td>
                    {canAct && (
                      <td>
                        <div className="row">
                          {a.state === "firing" && (
                            <button type="button" disabled={act.isPending} onClick={() => act.mutate({ id: a.id, verb: "ack" })}>
                              Acknowledge<span className="sr-only"> {a.summary}</span>
                            </button>
                          )}
                          {a.state !== "resolved" && (
                            <button type="button" className="secondary" disabled={act.isPending} onClick={() => act.mutate({ id: a.id, verb: "resolve" })}>
                              Resolve<span className="sr-only"> {a.summary}</span>
                            </button>
                          )}
                        </div>
                      </td>
                    )}
                  </tr>
                  {open === a.id && (
                    <tr data-deliveries={a.id}>
                      <td colSpan={canAct ? 7 : 6}>
                        <AlertDeliveries id={a.id} />
                      </td>
                    </tr>
                  )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      {!canAct && <p className="muted small">Acknowledging and resolving need the operator role.</p>}
      <Silences canWrite={canAct} />
    </>
  );
}
