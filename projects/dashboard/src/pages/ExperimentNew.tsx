import { useMemo, useRef, useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { api, ApiError, unwrap, type Schemas } from "../api/client";
import { atLeast, useAuth } from "../auth";
import { Empty, ErrorBox, Query } from "../components/States";
import { buildSpec, matches, newForm, newVariant, stepOf, WIZARD_STEPS, type ExperimentForm, type Strategy, type VariantForm } from "../experiment";
import { PRICE_MODELS } from "../models";
import { StrategyBlocks } from "./Builder";

type Template = Schemas["PipelineTemplate"];

/** The create wizard: target, baseline, candidates (templates or strategy blocks), criteria, review. */
export default function ExperimentNew() {
  const { me } = useAuth();
  const nav = useNavigate();
  const qc = useQueryClient();
  const loc = useLocation();
  // "Try it in an experiment" (recommendations) hands strategy blocks over as the first candidate.
  const fromRec = (loc.state as { strategies?: Strategy[] } | null)?.strategies;
  const [form, setForm] = useState<ExperimentForm>(() => {
    const f = newForm();
    if (fromRec?.length) f.candidates = [{ ...newVariant("candidate", "balanced"), mode: "strategies", strategies: fromRec }];
    return f;
  });
  const [step, setStep] = useState(0);
  const [startNow, setStartNow] = useState(true);
  const heading = useRef<HTMLHeadingElement>(null);
  const moved = useRef(false);
  // Moving between steps puts the focus on the new step's heading (not on first render).
  useEffect(() => {
    if (moved.current) heading.current?.focus();
    moved.current = true;
  }, [step]);
  const templates = useQuery({
    queryKey: ["templates"],
    queryFn: async () => unwrap(await api.GET("/api/v1/pipelines/templates")),
    staleTime: Infinity,
  });
  const spec = useMemo(() => buildSpec(form), [form]);
  const create = useMutation({
    mutationFn: async () => {
      const x = unwrap(await api.POST("/api/v1/experiments", { body: spec }));
      if (startNow) return unwrap(await api.POST("/api/v1/experiments/{id}/start", { params: { path: { id: x.id } } }));
      return x;
    },
    onSuccess: (x) => {
      void qc.invalidateQueries({ queryKey: ["experiments"] });
      nav(`/experiments/${encodeURIComponent(x.id)}`);
    },
  });
  const errorSteps = create.error instanceof ApiError ? new Set((create.error.problem.errors ?? []).map((e) => stepOf(e.path))) : new Set<number>();
  const set = (f: Partial<ExperimentForm>) => setForm((o) => ({ ...o, ...f }));
  // The spec's field errors under a variant, for inline display in its strategy blocks.
  const errorsUnder = (prefix: string) =>
    create.error instanceof ApiError ? (create.error.problem.errors ?? []).filter((e) => e.path.startsWith(prefix)).map((e) => ({ ...e, path: e.path.slice(prefix.length) })) : undefined;
  if (!atLeast(me?.role, "operator")) return <Empty>Creating experiments needs the operator role.</Empty>;
  return (
    <>
      <p className="crumbs">
        <Link to="/experiments">Experiments</Link> /
      </p>
      <header className="page-head">
        <h1>New experiment</h1>
      </header>
      <nav aria-label="Wizard steps">
        <ol className="steps">
          {WIZARD_STEPS.map((s, i) => (
            <li key={s}>
              <button
                type="button"
                className={`step ${i === step ? "current" : ""} ${errorSteps.has(i) ? "has-error" : ""}`}
                aria-current={i === step ? "step" : undefined}
                onClick={() => setStep(i)}
              >
                {i + 1}. {s}
                {errorSteps.has(i) && <span className="sr-only"> (has errors)</span>}
              </button>
            </li>
          ))}
        </ol>
      </nav>
      <form
        className="panel wizard"
        aria-label={`Step ${step + 1}: ${WIZARD_STEPS[step]}`}
        onSubmit={(e) => {
          e.preventDefault();
          if (step < WIZARD_STEPS.length - 1) setStep(step + 1);
          else create.mutate();
        }}
      >
        <h2 ref={heading} tabIndex={-1}>
          {step + 1}. {WIZARD_STEPS[step]}
        </h2>
        {step === 0 && <TargetStep form={form} set={set} />}
        {step === 1 && (
          <>
            <p className="muted small">The control: usually the pipeline the agents run today, unchanged (the baseline template passes data through).</p>
            <VariantEditor v={form.baseline} templates={templates} onChange={(baseline) => set({ baseline })} named={false} errors={errorsUnder("spec.baseline.")} />
          </>
        )}
        {step === 2 && (
          <>
            {form.candidates.map((c, i) => (
              <fieldset key={i} className="candidate">
                <legend>Candidate {i + 1}</legend>
                <VariantEditor
                  v={c}
                  templates={templates}
                  named
                  errors={errorsUnder(`spec.candidates[${i}].`)}
                  onChange={(v) => set({ candidates: form.candidates.map((x, j) => (j === i ? v : x)) })}
                />
                {form.candidates.length > 1 && (
                  <button type="button" className="secondary" onClick={() => set({ candidates: form.candidates.filter((_, j) => j !== i) })}>
                    Remove candidate {c.name || i + 1}
                  </button>
                )}
              </fieldset>
            ))}
            {form.candidates.length < 8 && (
              <button
                type="button"
                className="secondary"
                onClick={() => set({ candidates: [...form.candidates, newVariant(`candidate-${form.candidates.length + 1}`, "aggressive")] })}
              >
                Add a candidate
              </button>
            )}
          </>
        )}
        {step === 3 && <CriteriaStep form={form} set={set} />}
        {step === 4 && (
          <>
            <p>The spec sent to the controller (api/schemas/experiment.yaml); it checks every field and lists all problems at once.</p>
            <pre className="code" tabIndex={0} data-testid="spec">
              {JSON.stringify(spec, null, 2)}
            </pre>
            <label className="radio">
              <input type="checkbox" checked={startNow} onChange={(e) => setStartNow(e.target.checked)} /> Start it at once (otherwise it stays a draft)
            </label>
          </>
        )}
        {create.error instanceof ApiError && create.error.problem.errors?.length ? (
          <div className="error" role="alert">
            <strong>
              {create.error.problem.title} ({create.error.problem.status})
            </strong>
            {create.error.problem.detail && <p>{create.error.problem.detail}</p>}
            <ul>
              {create.error.problem.errors.map((e, i) => (
                <li key={i}>
                  <code>{e.path}</code>: {e.message}{" "}
                  {stepOf(e.path) !== step && (
                    <button type="button" className="link plain" onClick={() => setStep(stepOf(e.path))}>
                      go to {WIZARD_STEPS[stepOf(e.path)]}
                    </button>
                  )}
                </li>
              ))}
            </ul>
          </div>
        ) : (
          <ErrorBox error={create.error} />
        )}
        <div className="row wizard-nav">
          {step > 0 && (
            <button type="button" className="secondary" onClick={() => setStep(step - 1)}>
              Back
            </button>
          )}
          <button type="submit" disabled={create.isPending}>
            {step < WIZARD_STEPS.length - 1 ? "Next" : create.isPending ? "Creating…" : startNow ? "Create and start" : "Create draft"}
          </button>
        </div>
      </form>
    </>
  );
}

type StepProps = { form: ExperimentForm; set: (f: Partial<ExperimentForm>) => void };

function TargetStep({ form, set }: StepProps) {
  const agents = useQuery({ queryKey: ["agents"], queryFn: async () => unwrap(await api.GET("/api/v1/agents", { params: { query: { limit: 500 } } })) });
  const selector = Object.fromEntries(form.selector.filter((p) => p.key.trim()).map((p) => [p.key.trim(), p.value.trim()]));
  const labels = useMemo(() => {
    const seen = new Set<string>();
    for (const a of agents.data?.items ?? []) for (const [k, v] of Object.entries(a.labels)) seen.add(`${k}=${v}`);
    return [...seen].sort();
  }, [agents.data]);
  const matching = (agents.data?.items ?? []).filter((a) => matches(a.labels, selector));
  const setPair = (i: number, p: { key: string; value: string }) => set({ selector: form.selector.map((x, j) => (j === i ? p : x)) });
  return (
    <>
      <label>
        Name
        <input name="name" value={form.name} onChange={(e) => set({ name: e.target.value })} required pattern="[A-Za-z0-9_\-]{1,64}" maxLength={64} />
        <span className="muted small">Letters, digits, _ and - (no --): names the variant streams name--baseline, name--candidate.</span>
      </label>
      <label>
        Description
        <input value={form.description} onChange={(e) => set({ description: e.target.value })} maxLength={1024} />
      </label>
      <fieldset>
        <legend>Target agents: every agent whose labels contain all of these</legend>
        {form.selector.map((p, i) => (
          <div className="row" key={i}>
            <label className="inline">
              Label
              <input value={p.key} onChange={(e) => setPair(i, { ...p, key: e.target.value })} />
            </label>
            <label className="inline">
              Value
              <input value={p.value} onChange={(e) => setPair(i, { ...p, value: e.target.value })} />
            </label>
            {form.selector.length > 1 && (
              <button type="button" className="secondary" aria-label={`Remove label ${p.key || i + 1}`} onClick={() => set({ selector: form.selector.filter((_, j) => j !== i) })}>
                ✕
              </button>
            )}
          </div>
        ))}
        <button type="button" className="secondary" onClick={() => set({ selector: [...form.selector, { key: "", value: "" }] })}>
          Add a label
        </button>
        <Query q={agents} what="agents">
          {() => (
            <>
              {labels.length > 0 && (
                <div className="row wrap">
                  <span className="muted small">Labels in your fleet:</span>
                  {labels.map((l) => {
                    const [k, ...rest] = l.split("=");
                    return (
                      <button
                        key={l}
                        type="button"
                        className="chip"
                        onClick={() => set({ selector: [...form.selector.filter((x) => x.key.trim() && x.key !== k), { key: k, value: rest.join("=") }] })}
                      >
                        {l}
                      </button>
                    );
                  })}
                </div>
              )}
              <p role="status" data-testid="matching">
                {Object.keys(selector).length === 0
                  ? "Name at least one label."
                  : `${matching.length} agent${matching.length === 1 ? "" : "s"} match${matching.length === 1 ? "es" : ""}${matching.length ? `: ${matching.map((a) => a.hostname || a.id).join(", ")}` : " (the experiment would be inconclusive)"}.`}
              </p>
            </>
          )}
        </Query>
      </fieldset>
    </>
  );
}

function VariantEditor({
  v,
  onChange,
  templates,
  named,
  errors,
}: {
  errors?: { path: string; message: string }[];
  v: VariantForm;
  onChange: (v: VariantForm) => void;
  templates: { data?: { items: Template[] }; error: unknown; isPending: boolean };
  named: boolean;
}) {
  const tpl = templates.data?.items.find((t) => t.name === v.template);
  const id = named ? `v-${v.name}` : "v-baseline";
  return (
    <>
      {named && (
        <label>
          Candidate name
          <input value={v.name} onChange={(e) => onChange({ ...v, name: e.target.value })} required pattern="[A-Za-z0-9_\-]{1,64}" maxLength={64} />
        </label>
      )}
      <fieldset>
        <legend>Pipeline</legend>
        <label className="radio">
          <input type="radio" name={`${id}-mode`} checked={v.mode === "template"} onChange={() => onChange({ ...v, mode: "template" })} /> a template
        </label>
        <label className="radio">
          <input type="radio" name={`${id}-mode`} checked={v.mode === "strategies"} onChange={() => onChange({ ...v, mode: "strategies" })} /> strategy blocks (the builder)
        </label>
      </fieldset>
      {v.mode === "template" ? (
        <Query q={templates} what="templates">
          {(d) => (
            <>
              <label>
                Template
                <select name="template" value={v.template} onChange={(e) => onChange({ ...v, template: e.target.value, set: {} })}>
                  {d.items.map((t) => (
                    <option key={t.name}>{t.name}</option>
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
                      <input name={`set.${p.name}`} value={v.set[p.name] ?? ""} placeholder={p.default} onChange={(e) => onChange({ ...v, set: { ...v.set, [p.name]: e.target.value } })} />
                      <span className="muted small">{p.description}</span>
                    </label>
                  ))}
                </>
              )}
            </>
          )}
        </Query>
      ) : (
        <StrategyBlocks strategies={v.strategies} onChange={(strategies) => onChange({ ...v, strategies })} errors={errors} />
      )}
    </>
  );
}

function CriteriaStep({ form, set }: StepProps) {
  const c = form.criteria;
  const setC = (k: keyof typeof c, val: string) => set({ criteria: { ...c, [k]: val } });
  const pct = (k: "min_series_reduction_pct" | "min_critical_retention_pct" | "max_aggregate_error_pct" | "min_cost_reduction_pct", label: string, hint: string) => (
    <label>
      {label}
      <input type="number" step="any" inputMode="decimal" value={c[k]} onChange={(e) => setC(k, e.target.value)} />
      <span className="muted small">{hint}</span>
    </label>
  );
  return (
    <>
      <div className="grid2">
        <label>
          Warm-up
          <input name="warmup" value={form.warmup} onChange={(e) => set({ warmup: e.target.value })} placeholder="0s" />
          <span className="muted small">Go duration before measuring (0s to 24h).</span>
        </label>
        <label>
          Duration
          <input name="duration" value={form.duration} onChange={(e) => set({ duration: e.target.value })} required />
          <span className="muted small">Measured time after warm-up (10s to 168h).</span>
        </label>
      </div>
      <fieldset>
        <legend>Criteria (percent of the baseline; empty: not checked)</legend>
        {pct("min_series_reduction_pct", "Minimum series reduction %", "0 to 100")}
        {pct("min_cost_reduction_pct", "Minimum cost reduction %", "-100 to 100; negative accepts a candidate costing that much more")}
        {pct("min_critical_retention_pct", "Minimum critical retention %", "needs critical entities below")}
        {pct("max_aggregate_error_pct", "Maximum aggregate error %", "needs aggregates below")}
        <label>
          Price model
          <select value={c.price_model} onChange={(e) => setC("price_model", e.target.value)}>
            {PRICE_MODELS.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
      </fieldset>
      <label>
        Critical entities (one PromQL label matcher per line)
        <textarea rows={2} value={form.critical} onChange={(e) => set({ critical: e.target.value })} placeholder={'process.executable.name=~"nginx|postgres"'} />
      </label>
      <label>
        Aggregates that must stay close (one per line)
        <textarea rows={2} value={form.aggregates} onChange={(e) => set({ aggregates: e.target.value })} placeholder={'sum({"process.cpu.time"}) by ("host.name")'} />
      </label>
      <fieldset>
        <legend>On success</legend>
        <label className="radio">
          <input type="radio" name="on_success" checked={form.on_success === "wait"} onChange={() => set({ on_success: "wait" })} /> wait for an approval
        </label>
        <label className="radio">
          <input type="radio" name="on_success" checked={form.on_success === "promote"} onChange={() => set({ on_success: "promote" })} /> promote the winner at once
        </label>
        <label>
          Rollout
          <select value={form.rollout.strategy} onChange={(e) => set({ rollout: { ...form.rollout, strategy: e.target.value as "all" | "staged" } })}>
            <option value="all">all agents at once</option>
            <option value="staged">staged</option>
          </select>
        </label>
        {form.rollout.strategy === "staged" && (
          <div className="grid2">
            <label>
              Steps (percent of the agents)
              <input value={form.rollout.steps} onChange={(e) => set({ rollout: { ...form.rollout, steps: e.target.value } })} />
            </label>
            <label>
              Pause after each step
              <input value={form.rollout.pause} onChange={(e) => set({ rollout: { ...form.rollout, pause: e.target.value } })} />
            </label>
          </div>
        )}
      </fieldset>
    </>
  );
}
