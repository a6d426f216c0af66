import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useLocation, useNavigate, useParams } from "react-router-dom";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { ErrorBox, Query } from "../components/States";
import { useAuth, atLeast } from "../auth";

type Strategy = Schemas["PipelineStrategy"];
type GenerateRequest = Schemas["PipelineGenerateRequest"];

export const STRATEGY_TYPES: Strategy["type"][] = [
  "drop_metrics",
  "drop_labels",
  "keep_labels",
  "aggregate",
  "topk",
  "cardinality_cap",
  "reduce_resolution",
  "cumulative_to_delta",
];

/** Which form fields each strategy type uses (the rest of PipelineStrategy stays unset). */
const FIELDS: Record<string, (keyof Strategy)[]> = {
  drop_metrics: ["metrics", "metric_regex"],
  drop_labels: ["metrics", "labels", "scope"],
  keep_labels: ["metrics", "labels", "scope"],
  aggregate: ["metrics", "labels", "interval", "gauge_func"],
  topk: ["metrics", "k", "window", "group_by", "entity_keys", "rank_metric", "critical"],
  cardinality_cap: ["metrics", "limit", "action", "never_drop", "reset_interval"],
  reduce_resolution: ["metrics", "interval"],
  cumulative_to_delta: ["metrics"],
  priority_tiers: [],
};
const LISTS = new Set<keyof Strategy>(["metrics", "metric_regex", "labels", "group_by", "entity_keys", "critical", "never_drop"]);
const NUMBERS = new Set<keyof Strategy>(["k", "limit", "decay"]);

/** buildRequest turns the form into a generate request for a production pipeline. */
export function buildRequest(f: BuilderForm): GenerateRequest {
  return {
    ...(f.mode === "template" ? { template: f.template, set: nonEmpty(f.set) } : { strategies: f.strategies.map(cleanLists) }),
    source: { kind: "hostmetrics" },
    target: { kind: "production", exporter: { type: f.exporterType, endpoint: f.endpoint || undefined }, ingest_endpoint: "" },
    telemetry_addr: "127.0.0.1:18888",
  };
}

function cleanLists(s: Strategy): Strategy {
  const out: Record<string, unknown> = { ...s };
  for (const k of LISTS) if (Array.isArray(out[k])) out[k] = (out[k] as string[]).filter(Boolean);
  return out as Strategy;
}

function nonEmpty(set: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(set).filter(([, v]) => v !== ""));
}

export type BuilderForm = {
  mode: "template" | "strategies";
  template: string;
  set: Record<string, string>;
  strategies: Strategy[];
  exporterType: string;
  endpoint: string;
};

export default function Builder() {
  const { id } = useParams(); // set: a new version of pipeline id
  const loc = useLocation();
  const nav = useNavigate();
  const qc = useQueryClient();
  const { me } = useAuth();
  const fromRec = (loc.state as { strategies?: Strategy[] } | null)?.strategies;
  const [form, setForm] = useState<BuilderForm>({
    mode: fromRec ? "strategies" : "template",
    template: "balanced",
    set: {},
    strategies: fromRec ?? [],
    exporterType: "otlphttp",
    endpoint: "http://127.0.0.1:4318",
  });
  const templates = useQuery({
    queryKey: ["templates"],
    queryFn: async () => unwrap(await api.GET("/api/v1/pipelines/templates")),
    staleTime: Infinity,
  });
  const existing = useQuery({
    queryKey: ["pipeline", id],
    enabled: !!id,
    queryFn: async () => unwrap(await api.GET("/api/v1/pipelines/{id}", { params: { path: { id: id! } } })),
  });
  const [yaml, setYaml] = useState("");
  const generate = useMutation({
    mutationFn: async (req: GenerateRequest) => unwrap(await api.POST("/api/v1/pipelines/generate", { body: req })),
    onSuccess: (g) => setYaml(g.config),
  });
  const validate = useMutation({
    mutationFn: async (config: string) => unwrap(await api.POST("/api/v1/pipelines/validate", { body: { config } })),
  });
  const [name, setName] = useState("");
  const [reason, setReason] = useState("");
  useEffect(() => {
    if (existing.data) {
      setName(existing.data.name);
      setYaml((y) => y || existing.data.config);
    }
  }, [existing.data]);
  const save = useMutation({
    mutationFn: async () => {
      if (id) {
        return unwrap(
          await api.PUT("/api/v1/pipelines/{id}", {
            params: { path: { id } },
            body: { config: yaml, reason, version: existing.data?.version },
          }),
        );
      }
      return unwrap(await api.POST("/api/v1/pipelines", { body: { name, config: yaml, reason } }));
    },
    onSuccess: (p) => {
      void qc.invalidateQueries({ queryKey: ["pipelines"] });
      void qc.invalidateQueries({ queryKey: ["pipeline", p.id] });
      nav(`/pipelines/${encodeURIComponent(p.id)}`);
    },
  });

  const tpl = templates.data?.items.find((t) => t.name === form.template);
  const update = (f: Partial<BuilderForm>) => setForm((old) => ({ ...old, ...f }));

  function onGenerate(e: FormEvent) {
    e.preventDefault();
    validate.reset();
    generate.mutate(buildRequest(form));
  }

  return (
    <>
      <header className="page-head">
        <h1>{id ? `New version of ${existing.data?.name ?? id}` : "Pipeline builder"}</h1>
      </header>
      <div className="builder">
        <form onSubmit={onGenerate} aria-label="Pipeline parameters" className="panel">
          <fieldset>
            <legend>Start from</legend>
            <label className="radio">
              <input type="radio" name="mode" checked={form.mode === "template"} onChange={() => update({ mode: "template" })} /> a template
            </label>
            <label className="radio">
              <input type="radio" name="mode" checked={form.mode === "strategies"} onChange={() => update({ mode: "strategies" })} /> strategy blocks
            </label>
          </fieldset>
          {form.mode === "template" ? (
            <Query q={templates} what="templates">
              {(d) => (
                <>
                  <label>
                    Template
                    <select name="template" value={form.template} onChange={(e) => update({ template: e.target.value, set: {} })}>
                      {d.items.map((t) => (
                        <option key={t.name} value={t.name}>
                          {t.name}
                        </option>
                      ))}
                    </select>
                  </label>
                  {tpl && (
                    <>
                      <p className="muted small">
                        {tpl.summary} <em>Risk: {tpl.risk}.</em>
                      </p>
                      {tpl.params.map((p) => (
                        <label key={p.name}>
                          {p.name}
                          <input
                            name={`set.${p.name}`}
                            value={form.set[p.name] ?? ""}
                            placeholder={p.default}
                            onChange={(e) => update({ set: { ...form.set, [p.name]: e.target.value } })}
                          />
                          <span className="muted small">{p.description}</span>
                        </label>
                      ))}
                    </>
                  )}
                </>
              )}
            </Query>
          ) : (
            <StrategyBlocks
              strategies={form.strategies}
              onChange={(strategies) => update({ strategies })}
              errors={generate.error instanceof ApiError ? generate.error.problem.errors : undefined}
            />
          )}
          <fieldset>
            <legend>Export to</legend>
            <label>
              Exporter type
              <input value={form.exporterType} onChange={(e) => update({ exporterType: e.target.value })} />
            </label>
            <label>
              Endpoint
              <input value={form.endpoint} onChange={(e) => update({ endpoint: e.target.value })} />
            </label>
          </fieldset>
          <button type="submit" disabled={generate.isPending}>
            {generate.isPending ? "Generating…" : "Generate and validate"}
          </button>
          <ErrorBox error={generate.error} />
          {generate.data && (
            <p className={generate.data.validated === false ? "bad" : "good"} role="status" data-testid="validated">
              {generate.data.validated === true
                ? "Validated by phoenix-collector."
                : generate.data.validated === null
                  ? `Not validated: ${generate.data.validated_unknown_reason ?? "collector unavailable"}`
                  : "Collector rejected it."}
            </p>
          )}
        </form>
        <section className="panel" aria-labelledby="yaml-h">
          <h2 id="yaml-h">Collector config</h2>
          <label className="sr-only" htmlFor="yaml">
            Collector YAML
          </label>
          <textarea
            id="yaml"
            spellCheck={false}
            value={yaml}
            onChange={(e) => {
              setYaml(e.target.value);
              validate.reset();
            }}
            placeholder="Generate a config, or paste one to validate."
            rows={24}
          />
          <div className="row">
            <button type="button" disabled={!yaml || validate.isPending} onClick={() => validate.mutate(yaml)}>
              {validate.isPending ? "Validating…" : "Validate YAML"}
            </button>
            {validate.data && (
              <span className="good" role="status">
                Valid ({validate.data.config_hash.slice(0, 19)})
              </span>
            )}
          </div>
          <ErrorBox error={validate.error} />
          {atLeast(me?.role, "operator") && (
            <form
              className="save"
              onSubmit={(e) => {
                e.preventDefault();
                save.mutate();
              }}
            >
              <h3>{id ? "Save as a new version" : "Save as a pipeline"}</h3>
              {!id && (
                <label>
                  Name
                  <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={128} />
                </label>
              )}
              <label>
                Reason
                <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={4096} />
              </label>
              <button type="submit" disabled={!yaml || save.isPending}>
                {save.isPending ? "Saving…" : "Save"}
              </button>
              <ErrorBox error={save.error} />
            </form>
          )}
        </section>
      </div>
    </>
  );
}

/** moveItem returns a with the item at from moved to index to (clamped). */
export function moveItem<T>(a: T[], from: number, to: number): T[] {
  if (from < 0 || from >= a.length) return a;
  const b = [...a];
  const [x] = b.splice(from, 1);
  b.splice(Math.max(0, Math.min(to, b.length)), 0, x);
  return b;
}

/** insertItem returns a with x inserted at index at (clamped). */
export function insertItem<T>(a: T[], x: T, at: number): T[] {
  const b = [...a];
  b.splice(Math.max(0, Math.min(at, b.length)), 0, x);
  return b;
}

/** blockErrors groups field errors by strategy block: `strategies[2].k` belongs to block 2. */
export function blockErrors(errors: { path: string; message: string }[] | undefined, prefix = "strategies"): Map<number, { field: string; message: string }[]> {
  const out = new Map<number, { field: string; message: string }[]>();
  const re = new RegExp(`(?:^|\\.)${prefix}\\[(\\d+)\\]\\.?(.*)$`);
  for (const e of errors ?? []) {
    const m = re.exec(e.path);
    if (!m) continue;
    const i = Number(m[1]);
    out.set(i, [...(out.get(i) ?? []), { field: m[2], message: e.message }]);
  }
  return out;
}

// Drag payloads: a palette type to insert, or a block index to move.
const DND_TYPE = "application/x-phoenix-strategy";
type Drag = { add: Strategy["type"] } | { move: number };

/**
 * StrategyBlocks edits strategy blocks in order. Blocks are dragged from
 * the palette into the list and dragged to reorder; the keyboard path is
 * the same: palette buttons add at the end, ↑/↓ move, ✕ removes.
 * errors (the API's field errors) show inline under the block they name.
 */
export function StrategyBlocks({
  strategies,
  onChange,
  errors,
}: {
  strategies: Strategy[];
  onChange: (s: Strategy[]) => void;
  errors?: { path: string; message: string }[];
}) {
  const [over, setOver] = useState<number | null>(null);
  const [announce, setAnnounce] = useState("");
  const set = (i: number, s: Strategy) => onChange(strategies.map((x, j) => (j === i ? s : x)));
  const byBlock = blockErrors(errors);
  const drop = (at: number) => (e: React.DragEvent) => {
    e.preventDefault();
    setOver(null);
    let d: Drag;
    try {
      d = JSON.parse(e.dataTransfer.getData(DND_TYPE) || e.dataTransfer.getData("text/plain"));
    } catch {
      return;
    }
    if ("add" in d && STRATEGY_TYPES.includes(d.add)) {
      onChange(insertItem(strategies, { type: d.add }, at));
      setAnnounce(`${d.add} added at position ${Math.min(at, strategies.length) + 1}`);
    } else if ("move" in d) {
      const to = d.move < at ? at - 1 : at;
      onChange(moveItem(strategies, d.move, to));
      setAnnounce(`${strategies[d.move]?.type} moved to position ${to + 1}`);
    }
  };
  const dragOver = (i: number) => (e: React.DragEvent) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    setOver(i);
  };
  const start = (d: Drag) => (e: React.DragEvent) => {
    e.dataTransfer.setData(DND_TYPE, JSON.stringify(d));
    e.dataTransfer.setData("text/plain", JSON.stringify(d));
    e.dataTransfer.effectAllowed = "copyMove";
  };
  return (
    <fieldset>
      <legend>Strategy blocks (applied in order)</legend>
      <div className="palette" role="group" aria-label="Strategy palette: drag a block into the pipeline, or press it to add it at the end">
        {STRATEGY_TYPES.map((t) => (
          <button
            key={t}
            type="button"
            className="chip"
            draggable
            data-testid={`palette-${t}`}
            onDragStart={start({ add: t })}
            onClick={() => {
              onChange([...strategies, { type: t }]);
              setAnnounce(`${t} added at position ${strategies.length + 1}`);
            }}
          >
            + {t}
          </button>
        ))}
      </div>
      <ol className="blocks" data-testid="blocks" onDragLeave={() => setOver(null)}>
        {strategies.map((s, i) => (
          <li
            key={i}
            className={`block ${over === i ? "drop-before" : ""} ${byBlock.has(i) ? "invalid" : ""}`}
            draggable
            onDragStart={start({ move: i })}
            onDragOver={dragOver(i)}
            onDrop={drop(i)}
            data-testid={`block-${i}`}
          >
            <div className="row">
              <span className="grip" aria-hidden>
                ⠿
              </span>
              <strong>{s.type}</strong>
              <button type="button" aria-label={`Move ${s.type} up`} disabled={i === 0} onClick={() => onChange(swap(strategies, i, i - 1))}>
                ↑
              </button>
              <button
                type="button"
                aria-label={`Move ${s.type} down`}
                disabled={i === strategies.length - 1}
                onClick={() => onChange(swap(strategies, i, i + 1))}
              >
                ↓
              </button>
              <button type="button" aria-label={`Remove ${s.type}`} onClick={() => onChange(strategies.filter((_, j) => j !== i))}>
                ✕
              </button>
            </div>
            {FIELDS[s.type].map((f) => {
              const err = byBlock.get(i)?.filter((e) => e.field === f || e.field.startsWith(`${f}[`) || e.field.startsWith(`${f}.`));
              const errId = `err-${i}-${f}`;
              return (
                <label key={f}>
                  {f}
                  <input
                    name={`strategies.${i}.${f}`}
                    value={fieldValue(s[f])}
                    placeholder={LISTS.has(f) ? "comma-separated" : ""}
                    inputMode={NUMBERS.has(f) ? "numeric" : undefined}
                    aria-invalid={err?.length ? true : undefined}
                    aria-describedby={err?.length ? errId : undefined}
                    onChange={(e) => set(i, withField(s, f, e.target.value))}
                  />
                  {err?.length ? (
                    <span id={errId} className="field-error">
                      {err.map((x) => x.message).join("; ")}
                    </span>
                  ) : null}
                </label>
              );
            })}
            {byBlock
              .get(i)
              ?.filter((e) => !FIELDS[s.type].some((f) => e.field === f || e.field.startsWith(`${f}[`) || e.field.startsWith(`${f}.`)))
              .map((e, k) => (
                <p key={k} className="field-error">
                  {e.field ? <code>{e.field}</code> : null} {e.message}
                </p>
              ))}
          </li>
        ))}
        <li className={`dropzone ${over === strategies.length ? "drop-before" : ""}`} onDragOver={dragOver(strategies.length)} onDrop={drop(strategies.length)} data-testid="dropzone">
          {strategies.length === 0 ? "Drag a block here (or press one in the palette)." : "Drop here to add at the end."}
        </li>
      </ol>
      <p className="sr-only" role="status" aria-live="polite">
        {announce}
      </p>
    </fieldset>
  );
}

function swap<T>(a: T[], i: number, j: number): T[] {
  const b = [...a];
  [b[i], b[j]] = [b[j], b[i]];
  return b;
}

function fieldValue(v: unknown): string {
  if (Array.isArray(v)) return v.join(", ");
  return v === undefined || v === null ? "" : String(v);
}

/** withField parses a form value into the strategy's field type (lists split on commas, numbers parsed). */
export function withField(s: Strategy, f: keyof Strategy, raw: string): Strategy {
  const out: Record<string, unknown> = { ...s };
  if (raw.trim() === "") delete out[f];
  // Empty items are kept while typing ("a, " shows as typed) and dropped by buildRequest.
  else if (LISTS.has(f)) out[f] = raw.split(",").map((x) => x.trim());
  else if (NUMBERS.has(f)) out[f] = Number(raw);
  else out[f] = raw;
  return out as Strategy;
}
