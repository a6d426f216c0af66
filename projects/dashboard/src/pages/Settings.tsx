import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "../api/client";
import { atLeast, useAuth } from "../auth";
import { Empty, ErrorBox, Query } from "../components/States";
import { ago, money } from "../format";
import { Budgets, Channels } from "./Notify";

const ROLES = ["viewer", "operator", "admin"] as const;
type Role = (typeof ROLES)[number];

export default function Settings() {
  const { me } = useAuth();
  return (
    <>
      <header className="page-head">
        <h1>Settings</h1>
      </header>
      <section aria-labelledby="me-h">
        <h2 id="me-h">You</h2>
        <p>
          Signed in as <strong>{me?.subject}</strong> ({me?.role}){me?.teams?.length ? `, teams ${me.teams.join(", ")}` : ""}.
        </p>
      </section>
      <PriceCatalog />
      <Channels canWrite={atLeast(me?.role, "operator")} isAdmin={atLeast(me?.role, "admin")} />
      <Budgets />
      {atLeast(me?.role, "admin") ? (
        <>
          <Users />
          <Teams />
          <APIKeys />
        </>
      ) : (
        <Empty>Users, teams and API keys are managed by admins.</Empty>
      )}
    </>
  );
}

function Users() {
  const qc = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: async () => unwrap(await api.GET("/api/v1/users", { params: { query: { limit: 500 } } })) });
  const [f, setF] = useState({ username: "", password: "", role: "viewer" as Role });
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/users", { body: f })),
    onSuccess: () => {
      setF({ username: "", password: "", role: "viewer" });
      void qc.invalidateQueries({ queryKey: ["users"] });
    },
  });
  const remove = useMutation({
    mutationFn: async (user: string) => unwrap(await api.DELETE("/api/v1/users/{user}", { params: { path: { user } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["users"] }),
  });
  return (
    <section aria-labelledby="users-h">
      <h2 id="users-h">Users</h2>
      <Query q={users} what="users">
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">Teams</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((u) => (
                  <tr key={u.username}>
                    <th scope="row">{u.username}</th>
                    <td>{u.role}</td>
                    <td>{u.teams.join(", ")}</td>
                    <td>{ago(u.created_at)}</td>
                    <td>
                      <button type="button" className="link" onClick={() => confirm(`Delete user ${u.username}?`) && remove.mutate(u.username)}>
                        Delete<span className="sr-only"> {u.username}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      <ErrorBox error={remove.error} />
      <form
        className="row wrap"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          create.mutate();
        }}
        aria-label="Add a user"
      >
        <label className="inline">
          Username
          <input value={f.username} onChange={(e) => setF({ ...f, username: e.target.value })} required />
        </label>
        <label className="inline">
          Password
          <input type="password" autoComplete="new-password" minLength={12} value={f.password} onChange={(e) => setF({ ...f, password: e.target.value })} required />
        </label>
        <RoleSelect value={f.role} onChange={(role) => setF({ ...f, role })} />
        <button type="submit" disabled={create.isPending}>
          Add user
        </button>
      </form>
      <ErrorBox error={create.error} />
    </section>
  );
}

function RoleSelect({ value, onChange }: { value: Role; onChange: (r: Role) => void }) {
  return (
    <label className="inline">
      Role
      <select value={value} onChange={(e) => onChange(e.target.value as Role)}>
        {ROLES.map((r) => (
          <option key={r}>{r}</option>
        ))}
      </select>
    </label>
  );
}

function Teams() {
  const qc = useQueryClient();
  const teams = useQuery({ queryKey: ["teams"], queryFn: async () => unwrap(await api.GET("/api/v1/teams", { params: { query: { limit: 500 } } })) });
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/teams", { body: { name } })),
    onSuccess: () => {
      setName("");
      void qc.invalidateQueries({ queryKey: ["teams"] });
    },
  });
  return (
    <section aria-labelledby="teams-h">
      <h2 id="teams-h">Teams</h2>
      <Query q={teams} what="teams" empty={(d) => d.items.length === 0 && "No team yet."}>
        {(d) => (
          <ul className="plain">
            {d.items.map((t) => (
              <li key={t.name}>
                <strong>{t.name}</strong> <span className="muted">{t.members.join(", ") || "no members"}</span>
              </li>
            ))}
          </ul>
        )}
      </Query>
      <form
        className="row wrap"
        aria-label="Add a team"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label className="inline">
          Team name
          <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <button type="submit" disabled={create.isPending}>
          Add team
        </button>
      </form>
      <ErrorBox error={create.error} />
    </section>
  );
}

const SCOPES = ["read", "write", "ingest", "agent", "admin"] as const;

function APIKeys() {
  const qc = useQueryClient();
  const keys = useQuery({ queryKey: ["apikeys"], queryFn: async () => unwrap(await api.GET("/api/v1/apikeys", { params: { query: { limit: 500 } } })) });
  const [f, setF] = useState({ name: "", role: "viewer" as Role, scopes: ["read"] as (typeof SCOPES)[number][] });
  const [created, setCreated] = useState<Schemas["APIKey"] | null>(null);
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/apikeys", { body: f })),
    onSuccess: (k) => {
      setCreated(k);
      void qc.invalidateQueries({ queryKey: ["apikeys"] });
    },
  });
  const revoke = useMutation({
    mutationFn: async (key: string) => unwrap(await api.DELETE("/api/v1/apikeys/{key}", { params: { path: { key } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["apikeys"] }),
  });
  return (
    <section aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      <Query q={keys} what="API keys" empty={(d) => d.items.length === 0 && "No API key yet."}>
        {(d) => (
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Scopes</th>
                  <th scope="col">Teams</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {d.items.map((k) => (
                  <tr key={k.id}>
                    <th scope="row">{k.name}</th>
                    <td>{k.role}</td>
                    <td>{k.scopes.join(", ")}</td>
                    <td>{k.teams.join(", ")}</td>
                    <td>{k.revoked_at ? `revoked ${ago(k.revoked_at)}` : k.expires_at ? `expires ${k.expires_at.slice(0, 10)}` : "active"}</td>
                    <td>
                      {!k.revoked_at && (
                        <button type="button" className="link" onClick={() => confirm(`Revoke key ${k.name}?`) && revoke.mutate(k.id)}>
                          Revoke<span className="sr-only"> {k.name}</span>
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Query>
      <ErrorBox error={revoke.error} />
      <form
        className="row wrap"
        aria-label="Create an API key"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label className="inline">
          Key name
          <input value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} required />
        </label>
        <RoleSelect value={f.role} onChange={(role) => setF({ ...f, role })} />
        <fieldset className="inline">
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="radio">
              <input
                type="checkbox"
                checked={f.scopes.includes(s)}
                onChange={(e) => setF({ ...f, scopes: e.target.checked ? [...f.scopes, s] : f.scopes.filter((x) => x !== s) })}
              />{" "}
              {s}
            </label>
          ))}
        </fieldset>
        <button type="submit" disabled={create.isPending || f.scopes.length === 0}>
          Create key
        </button>
      </form>
      <ErrorBox error={create.error} />
      {created?.key && (
        <div className="notice" role="status">
          Key <strong>{created.name}</strong> created. Copy it now; it is not shown again: <code className="secret">{created.key}</code>
        </div>
      )}
    </section>
  );
}

/**
 * PriceCatalog shows the price models the server's catalog holds, as
 * GET /api/v1/cost answers them for one stream with no model named (every
 * model: its unit, its source, the stream's monthly cost). The API has no
 * endpoint that lists the catalog's rates themselves.
 */
function PriceCatalog() {
  const streams = useQuery({ queryKey: ["streams"], queryFn: async () => unwrap(await api.GET("/api/v1/streams")) });
  const [picked, setPicked] = useState("");
  const stream = picked || streams.data?.items[0]?.stream || "";
  const cost = useQuery({
    queryKey: ["cost", stream, "all"],
    enabled: !!stream,
    queryFn: async () => unwrap(await api.GET("/api/v1/cost", { params: { query: { stream } } })),
  });
  return (
    <section aria-labelledby="catalog-h">
      <h2 id="catalog-h">Price catalog</h2>
      <Query q={streams} what="streams" empty={(d) => d.items.length === 0 && "The catalog's models are priced against a stream; no stream has sent metrics yet."}>
        {(d) => (
          <>
            <label className="inline">
              Priced for stream
              <select value={stream} onChange={(e) => setPicked(e.target.value)}>
                {d.items.map((s) => (
                  <option key={s.stream}>{s.stream}</option>
                ))}
              </select>
            </label>
            <Query q={cost} what="price models">
              {(c) => (
                <>
                  <p className="muted small">
                    Catalog {c.catalog?.source || "unknown source"}
                    {c.catalog?.date && `, prices as of ${c.catalog.date}`}
                    {c.catalog?.currency && `, in ${c.catalog.currency}`}.
                  </p>
                  <div className="table-wrap" tabIndex={0}>
                    <table data-testid="price-models">
                      <thead>
                        <tr>
                          <th scope="col">Model</th>
                          <th scope="col">Billed per</th>
                          <th scope="col" className="num">
                            Monthly cost of {stream}
                          </th>
                          <th scope="col">Source</th>
                        </tr>
                      </thead>
                      <tbody>
                        {(c.models ?? []).map((m) => (
                          <tr key={m.model}>
                            <th scope="row">{m.model}</th>
                            <td>{m.unit}</td>
                            <td className="num" title={m.monthly_cost_unknown_reason}>
                              {m.monthly_cost === null || m.monthly_cost === undefined ? `unknown${m.monthly_cost_unknown_reason ? `: ${m.monthly_cost_unknown_reason}` : ""}` : money(m.monthly_cost, c.catalog?.currency || "USD")}
                            </td>
                            <td className="small">{m.source}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </div>
                </>
              )}
            </Query>
          </>
        )}
      </Query>
    </section>
  );
}
