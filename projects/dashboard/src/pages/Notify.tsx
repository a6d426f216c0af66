// Notification pieces of the alerts and settings pages: silences, an alert's
// deliveries, notification channels and the budgets view. Each takes the
// caller's rights as a prop, so the pages decide by role and the tests need
// no session.
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";
import type { paths } from "../api/schema";
import { ErrorBox, Query } from "../components/States";
import { ago, money, num, pct } from "../format";

type Silence = Schemas["Silence"];
type NewSilence = NonNullable<paths["/api/v1/silences"]["post"]["requestBody"]>["content"]["application/json"];
type NewChannel = NonNullable<paths["/api/v1/channels"]["post"]["requestBody"]>["content"]["application/json"];
type Severity = NonNullable<NewSilence["severity"]>;
type ChannelType = NewChannel["type"];
const SEVERITIES: Severity[] = ["critical", "high", "medium", "low"];
const CHANNEL_TYPES: ChannelType[] = ["webhook", "slack", "pagerduty", "teams"];

/** silenceState says whether a silence is in force at now: "active", "scheduled" or "expired". */
export function silenceState(s: Pick<Silence, "starts_at" | "ends_at">, now = Date.now()): "active" | "scheduled" | "expired" {
  if (Date.parse(s.starts_at) > now) return "scheduled";
  if (Date.parse(s.ends_at) <= now) return "expired";
  return "active";
}

/** DURATION is what the form accepts before the API judges it: a Go duration like 2h, 30m or 1h30m. */
const DURATION = "^([0-9]+(\\.[0-9]+)?(h|m|s))+$";

/** silenceBody turns the form into the create request: empty matcher fields are left out (they match anything). */
export function silenceBody(f: { stream: string; rule: string; severity: string; duration: string; comment: string }): NewSilence {
  const b: NewSilence = { duration: f.duration.trim() };
  if (f.stream.trim()) b.stream = f.stream.trim();
  if (f.rule.trim()) b.rule = f.rule.trim();
  if (f.severity) b.severity = f.severity as Severity;
  if (f.comment.trim()) b.comment = f.comment.trim();
  return b;
}

/** Silences lists the caller's teams' silences; operators create (matcher + duration) and delete them. */
export function Silences({ canWrite }: { canWrite: boolean }) {
  const qc = useQueryClient();
  const list = useQuery({
    queryKey: ["silences"],
    queryFn: async () => unwrap(await api.GET("/api/v1/silences", { params: { query: { limit: 500 } } })),
  });
  const [f, setF] = useState({ stream: "", rule: "", severity: "", duration: "2h", comment: "" });
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/silences", { body: silenceBody(f) })),
    onSuccess: () => {
      setF({ stream: "", rule: "", severity: "", duration: "2h", comment: "" });
      void qc.invalidateQueries({ queryKey: ["silences"] });
    },
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE("/api/v1/silences/{id}", { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["silences"] }),
  });
  return (
    <section aria-labelledby="silences-h">
      <h2 id="silences-h">Silences</h2>
      <p className="muted small">A silence mutes the notifications of matching alerts; the alerts are still recorded. Empty fields match anything.</p>
      <Query q={list} what="silences" empty={(d) => d.items.length === 0 && "No silence."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="silences">
              <thead>
                <tr>
                  <th scope="col">Matches</th>
                  <th scope="col">State</th>
                  <th scope="col">Ends</th>
                  <th scope="col">By</th>
                  {canWrite && (
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {d.items.map((s) => {
                  const what = [s.stream && `stream ${s.stream}`, s.rule && `rule ${s.rule}`, s.severity && `severity ${s.severity}`].filter(Boolean).join(", ") || "every alert";
                  return (
                    <tr key={s.id} data-silence={s.id}>
                      <th scope="row">
                        {what}
                        <div className="muted small">
                          team {s.team}
                          {s.comment && ` · ${s.comment}`}
                        </div>
                      </th>
                      <td>{silenceState(s)}</td>
                      <td title={s.ends_at}>{new Date(s.ends_at).toISOString().replace("T", " ").slice(0, 16)} UTC</td>
                      <td>
                        {s.created_by} <span className="muted small">{ago(s.created_at)}</span>
                      </td>
                      {canWrite && (
                        <td>
                          <button type="button" className="link" disabled={remove.isPending} onClick={() => confirm(`Delete the silence of ${what}?`) && remove.mutate(s.id)}>
                            Delete<span className="sr-only"> silence of {what}</span>
                          </button>
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      <ErrorBox error={remove.error} />
      {canWrite ? (
        <form
          className="row wrap"
          aria-label="Add a silence"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <label className="inline">
            Matching stream
            <input value={f.stream} onChange={(e) => setF({ ...f, stream: e.target.value })} placeholder="any" />
          </label>
          <label className="inline">
            Rule (kind or id)
            <input value={f.rule} onChange={(e) => setF({ ...f, rule: e.target.value })} placeholder="any" />
          </label>
          <label className="inline">
            Matching severity
            <select value={f.severity} onChange={(e) => setF({ ...f, severity: e.target.value })}>
              <option value="">any</option>
              {SEVERITIES.map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
          <label className="inline">
            For
            <input value={f.duration} onChange={(e) => setF({ ...f, duration: e.target.value })} pattern={DURATION} title="A duration such as 2h, 30m or 1h30m (at most 90 days)" required size={8} />
          </label>
          <label className="inline">
            Comment
            <input value={f.comment} maxLength={500} onChange={(e) => setF({ ...f, comment: e.target.value })} />
          </label>
          <button type="submit" disabled={create.isPending}>
            Add silence
          </button>
        </form>
      ) : (
        <p className="muted small">Adding and deleting silences need the operator role.</p>
      )}
      <ErrorBox error={create.error} />
    </section>
  );
}

/** AlertDeliveries shows, per channel and event, how the alert's notifications went. */
export function AlertDeliveries({ id }: { id: string }) {
  const list = useQuery({
    queryKey: ["alerts", id, "deliveries"],
    queryFn: async () => unwrap(await api.GET("/api/v1/alerts/{id}/deliveries", { params: { path: { id } } })),
  });
  const channels = useQuery({
    queryKey: ["channels"],
    queryFn: async () => unwrap(await api.GET("/api/v1/channels", { params: { query: { limit: 500 } } })),
  });
  const name = (cid: string) => channels.data?.items.find((c) => c.id === cid)?.name ?? cid;
  return (
    <Query q={list} what="deliveries" empty={(d) => d.items.length === 0 && "No notification was sent for this alert: no channel of its team matches it."}>
      {(d) => (
        <table data-testid="deliveries" className="small">
          <caption className="sr-only">Deliveries</caption>
          <thead>
            <tr>
              <th scope="col">Channel</th>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Attempts
              </th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {d.items.map((x) => (
              <tr key={`${x.channel_id}/${x.event}`}>
                <th scope="row">{name(x.channel_id)}</th>
                <td>{x.event}</td>
                <td>
                  {x.status}
                  {x.http_status ? ` (HTTP ${x.http_status})` : ""}
                  {x.error && <div className="muted">{x.error}</div>}
                </td>
                <td className="num">{num(x.attempts)}</td>
                <td>{ago(x.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Query>
  );
}

/** channelBody turns the form into the create request; streams are comma-separated. */
export function channelBody(f: { name: string; type: ChannelType; url: string; secret: string; severities: Severity[]; streams: string; allowPrivate: boolean }): NewChannel {
  const b: NewChannel = { name: f.name.trim(), type: f.type, severities: f.severities };
  if (f.url.trim()) b.url = f.url.trim();
  if (f.secret) b.secret = f.secret;
  const streams = f.streams
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (streams.length) b.streams = streams;
  if (f.allowPrivate) b.allow_private = true;
  return b;
}

const emptyChannel = { name: "", type: "webhook" as ChannelType, url: "", secret: "", severities: [] as Severity[], streams: "", allowPrivate: false };

/** Channels lists notification channels; operators create, test and delete them; only admins may allow private addresses. */
export function Channels({ canWrite, isAdmin }: { canWrite: boolean; isAdmin: boolean }) {
  const qc = useQueryClient();
  const list = useQuery({
    queryKey: ["channels"],
    queryFn: async () => unwrap(await api.GET("/api/v1/channels", { params: { query: { limit: 500 } } })),
  });
  const [f, setF] = useState(emptyChannel);
  const [tested, setTested] = useState<{ name: string; d: Schemas["Delivery"] } | null>(null);
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/channels", { body: channelBody(f) })),
    onSuccess: () => {
      setF(emptyChannel);
      void qc.invalidateQueries({ queryKey: ["channels"] });
    },
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE("/api/v1/channels/{id}", { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["channels"] }),
  });
  const test = useMutation({
    mutationFn: async (c: { id: string; name: string }) => ({ name: c.name, d: unwrap(await api.POST("/api/v1/channels/{id}/test", { params: { path: { id: c.id } } })) }),
    onMutate: () => setTested(null),
    onSuccess: setTested,
  });
  return (
    <section aria-labelledby="channels-h">
      <h2 id="channels-h">Notification channels</h2>
      <Query q={list} what="channels" empty={(d) => d.items.length === 0 && "No channel yet. Alerts are recorded but sent nowhere."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="channels">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">URL</th>
                  <th scope="col">Sends</th>
                  <th scope="col">Team</th>
                  {canWrite && (
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {d.items.map((c) => (
                  <tr key={c.id} data-channel={c.id}>
                    <th scope="row">{c.name}</th>
                    <td>
                      {c.type}
                      {c.has_secret && <div className="muted small">secret set</div>}
                    </td>
                    <td className="small">
                      <code>{c.url}</code>
                      {c.allow_private && <div className="muted">private addresses allowed</div>}
                    </td>
                    <td className="small">
                      {c.severities.length ? c.severities.join(", ") : "every severity"}; {c.streams.length ? `streams ${c.streams.join(", ")}` : "every stream"}
                    </td>
                    <td>{c.team}</td>
                    {canWrite && (
                      <td>
                        <div className="row">
                          <button type="button" className="secondary" disabled={test.isPending} onClick={() => test.mutate({ id: c.id, name: c.name })}>
                            Test<span className="sr-only"> {c.name}</span>
                          </button>
                          <button type="button" className="link" disabled={remove.isPending} onClick={() => confirm(`Delete channel ${c.name} and its delivery records?`) && remove.mutate(c.id)}>
                            Delete<span className="sr-only"> {c.name}</span>
                          </button>
                        </div>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      <ErrorBox error={remove.error} />
      <ErrorBox error={test.error} />
      {tested && (
        <div className="notice" role="status" data-testid="channel-test">
          Test of <strong>{tested.name}</strong>: {tested.d.status}
          {tested.d.http_status ? ` (HTTP ${tested.d.http_status})` : ""}
          {tested.d.error && `: ${tested.d.error}`}
        </div>
      )}
      {canWrite ? (
        <form
          className="row wrap"
          aria-label="Add a channel"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <label className="inline">
            Channel name
            <input value={f.name} maxLength={100} onChange={(e) => setF({ ...f, name: e.target.value })} required />
          </label>
          <label className="inline">
            Type
            <select value={f.type} onChange={(e) => setF({ ...f, type: e.target.value as ChannelType })}>
              {CHANNEL_TYPES.map((t) => (
                <option key={t}>{t}</option>
              ))}
            </select>
          </label>
          <label className="inline">
            URL
            <input type="url" value={f.url} maxLength={2048} onChange={(e) => setF({ ...f, url: e.target.value })} required={f.type !== "pagerduty"} placeholder={f.type === "pagerduty" ? "PagerDuty Events API v2" : ""} />
          </label>
          <label className="inline">
            {f.type === "pagerduty" ? "Routing key" : "Secret"}
            <input type="password" autoComplete="off" value={f.secret} maxLength={1024} onChange={(e) => setF({ ...f, secret: e.target.value })} required={f.type === "pagerduty"} />
          </label>
          <fieldset className="inline">
            <legend>Severities (none: all)</legend>
            {SEVERITIES.map((s) => (
              <label key={s} className="radio">
                <input
                  type="checkbox"
                  checked={f.severities.includes(s)}
                  onChange={(e) => setF({ ...f, severities: e.target.checked ? [...f.severities, s] : f.severities.filter((x) => x !== s) })}
                />{" "}
                {s}
              </label>
            ))}
          </fieldset>
          <label className="inline">
            Streams (comma-separated, empty: all)
            <input value={f.streams} onChange={(e) => setF({ ...f, streams: e.target.value })} />
          </label>
          {isAdmin && (
            <label className="radio">
              <input type="checkbox" checked={f.allowPrivate} onChange={(e) => setF({ ...f, allowPrivate: e.target.checked })} /> Allow private addresses
            </label>
          )}
          <button type="submit" disabled={create.isPending}>
            Add channel
          </button>
        </form>
      ) : (
        <p className="muted small">Adding, testing and deleting channels need the operator role.</p>
      )}
      <ErrorBox error={create.error} />
    </section>
  );
}

/** budgetValue formats a budget's measured value in the rule's unit. */
export function budgetValue(kind: Schemas["AlertRule"]["kind"], v: number): string {
  return kind === "max_monthly_cost" ? money(v) : num(v);
}

/** Budgets shows the budget rules (max_active_series, max_monthly_cost) with what each last measured per stream; read-only. */
export function Budgets() {
  const list = useQuery({
    queryKey: ["budgets"],
    queryFn: async () => unwrap(await api.GET("/api/v1/budgets", { params: { query: { limit: 500 } } })),
  });
  return (
    <section aria-labelledby="budgets-h">
      <h2 id="budgets-h">Budgets</h2>
      <p className="muted small">Budgets are alert rules of kind max_active_series or max_monthly_cost, created under /api/v1/alert-rules (`phoenix` CLI or API).</p>
      <Query q={list} what="budgets" empty={(d) => d.items.length === 0 && "No budget yet."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table data-testid="budgets">
              <thead>
                <tr>
                  <th scope="col">Budget</th>
                  <th scope="col">Stream</th>
                  <th scope="col" className="num">
                    Value / limit
                  </th>
                  <th scope="col" className="num">
                    Used
                  </th>
                  <th scope="col">Measured</th>
                </tr>
              </thead>
              <tbody>
                {d.items.flatMap((b) => {
                  const head = (
                    <th scope="row">
                      {b.rule.name}
                      <div className="muted small">
                        {b.rule.kind}
                        {b.rule.price_model && ` under ${b.rule.price_model}`} · team {b.rule.team}
                      </div>
                    </th>
                  );
                  if (b.streams.length === 0)
                    return [
                      <tr key={b.rule.id}>
                        {head}
                        <td>{b.rule.stream || "every stream"}</td>
                        <td className="num">
                          unknown / {budgetValue(b.rule.kind, b.rule.threshold)}
                        </td>
                        <td className="num">unknown</td>
                        <td>not yet measured</td>
                      </tr>,
                    ];
                  return b.streams.map((s, i) => (
                    <tr key={`${b.rule.id}/${s.stream}`} className={s.exceeded ? "exceeded" : undefined}>
                      {i === 0 ? head : <td />}
                      <td>{s.stream}</td>
                      <td className="num">
                        {budgetValue(b.rule.kind, s.value)} / {budgetValue(b.rule.kind, b.rule.threshold)}
                      </td>
                      <td className="num">
                        {pct(s.used)}
                        {s.exceeded && <strong> over</strong>}
                      </td>
                      <td>{ago(s.evaluated_at)}</td>
                    </tr>
                  ));
                })}
              </tbody>
            </table>
          </div>
        )}
      </Query>
    </section>
  );
}
