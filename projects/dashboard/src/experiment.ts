// The experiment wizard's form and the spec it produces
// (api/schemas/experiment.yaml), kept free of React so it is unit-tested.
import type { Schemas } from "./api/client";

export type Strategy = Schemas["PipelineStrategy"];
export type ExperimentState = Schemas["ExperimentState"];

/** VariantForm is the baseline or one candidate: a generator template with parameters, or strategy blocks. */
export type VariantForm = {
  name: string;
  mode: "template" | "strategies";
  template: string;
  set: Record<string, string>;
  strategies: Strategy[];
};

export type CriteriaForm = {
  min_series_reduction_pct: string;
  min_critical_retention_pct: string;
  max_aggregate_error_pct: string;
  min_cost_reduction_pct: string;
  price_model: string;
};

export type ExperimentForm = {
  name: string;
  description: string;
  selector: { key: string; value: string }[];
  baseline: VariantForm;
  candidates: VariantForm[];
  warmup: string;
  duration: string;
  critical: string; // one matcher per line
  aggregates: string; // one aggregation per line
  criteria: CriteriaForm;
  on_success: "wait" | "promote";
  rollout: { strategy: "all" | "staged"; steps: string; pause: string };
};

export function newVariant(name: string, template: string): VariantForm {
  return { name, mode: "template", template, set: {}, strategies: [] };
}

export function newForm(): ExperimentForm {
  return {
    name: "",
    description: "",
    selector: [{ key: "", value: "" }],
    baseline: newVariant("baseline", "baseline"),
    candidates: [newVariant("candidate", "balanced")],
    warmup: "30s",
    duration: "2m",
    critical: "",
    aggregates: "",
    criteria: {
      min_series_reduction_pct: "30",
      min_critical_retention_pct: "",
      max_aggregate_error_pct: "",
      min_cost_reduction_pct: "0",
      price_model: "self-hosted",
    },
    on_success: "wait",
    rollout: { strategy: "all", steps: "10, 50, 100", pause: "30s" },
  };
}

const LIST_FIELDS = ["metrics", "metric_regex", "labels", "group_by", "entity_keys", "critical", "never_drop"] as const;

function variant(v: VariantForm): Record<string, unknown> {
  if (v.mode === "template") {
    const set = Object.fromEntries(Object.entries(v.set).filter(([, x]) => x.trim() !== ""));
    return Object.keys(set).length ? { template: v.template, set } : { template: v.template };
  }
  return {
    strategies: v.strategies.map((s) => {
      const out: Record<string, unknown> = { ...s };
      for (const k of LIST_FIELDS) if (Array.isArray(out[k])) out[k] = (out[k] as string[]).filter(Boolean);
      return out;
    }),
  };
}

const lines = (s: string) => s.split("\n").map((l) => l.trim()).filter(Boolean);

/**
 * buildSpec turns the wizard's form into an experiment spec. It does not
 * validate: the controller's parser lists every problem at once with the
 * spec's paths, and the wizard shows them.
 */
export function buildSpec(f: ExperimentForm): Record<string, unknown> {
  const selector = Object.fromEntries(f.selector.filter((p) => p.key.trim() !== "").map((p) => [p.key.trim(), p.value.trim()]));
  const criteria: Record<string, unknown> = {};
  for (const k of ["min_series_reduction_pct", "min_critical_retention_pct", "max_aggregate_error_pct", "min_cost_reduction_pct"] as const) {
    const raw = f.criteria[k].trim();
    if (raw !== "") criteria[k] = Number(raw);
  }
  if (f.criteria.price_model) criteria.price_model = f.criteria.price_model;
  const spec: Record<string, unknown> = {
    target: { selector },
    baseline: variant(f.baseline),
    candidates: f.candidates.map((c) => ({ name: c.name.trim(), ...variant(c) })),
  };
  if (f.warmup.trim()) spec.warmup = f.warmup.trim();
  spec.duration = f.duration.trim();
  if (lines(f.critical).length) spec.critical = lines(f.critical);
  if (lines(f.aggregates).length) spec.aggregates = lines(f.aggregates);
  spec.criteria = criteria;
  spec.on_success = f.on_success;
  if (f.rollout.strategy === "staged") {
    spec.rollout = {
      strategy: "staged",
      steps: f.rollout.steps
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
        .map(Number),
      pause: f.rollout.pause.trim(),
    };
  } else {
    spec.rollout = { strategy: "all" };
  }
  const metadata: Record<string, unknown> = { name: f.name.trim() };
  if (f.description.trim()) metadata.description = f.description.trim();
  return { apiVersion: "phoenix.dev/v1alpha1", kind: "Experiment", metadata, spec };
}

/** WIZARD_STEPS names the wizard's steps; stepOf maps an error path of the spec to the step that edits it. */
export const WIZARD_STEPS = ["Target", "Baseline", "Candidates", "Criteria", "Review"] as const;

export function stepOf(path: string): number {
  if (/^spec\.target/.test(path) || /^metadata/.test(path)) return 0;
  if (/^spec\.baseline/.test(path)) return 1;
  if (/^spec\.candidates/.test(path)) return 2;
  if (/^spec\./.test(path)) return 3;
  return 4;
}

/** matches reports whether an agent's labels contain every selector label with an equal value. */
export function matches(labels: Record<string, string>, selector: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

export const FINAL_STATES: ExperimentState[] = ["failed", "inconclusive", "promoted", "rolled_back", "cancelled", "errored"];

export type Action = "start" | "stop" | "approve" | "promote" | "rollback" | "delete";

/** actions lists what a person may do to an experiment in state (docs/experiments.md, Lifecycle). */
export function actions(state: ExperimentState, onSuccess: string | undefined): Action[] {
  const out: Action[] = [];
  if (state === "draft") out.push("start", "delete");
  if (state === "succeeded") {
    if ((onSuccess ?? "wait") === "wait") out.push("approve");
    else out.push("promote");
  }
  if (state === "promoting") out.push("rollback");
  if (!FINAL_STATES.includes(state)) out.push("stop");
  return out;
}

/** Variant streams are `<experiment name>--<variant>`; the baseline variant is `baseline`. */
export function variantStreams(name: string, spec: unknown, results?: { candidates: { name: string; stream: string }[] } | null): { variant: string; stream: string }[] {
  const s = (spec as { spec?: { candidates?: { name?: string }[] } } | null)?.spec;
  const names = ["baseline", ...(s?.candidates ?? []).map((c) => c.name ?? "").filter(Boolean)];
  // The analysis names the streams it compared: trust them over the naming rule.
  const c = results?.candidates?.find((x) => x.stream.endsWith(`--${x.name}`));
  const prefix = c ? c.stream.slice(0, -(c.name.length + 2)) : name;
  return names.map((v) => ({ variant: v, stream: `${prefix}--${v}` }));
}

/** rollupStep picks a bucket size so a range asks for at most about 500 buckets (never below the 10 s rollup). */
export function rollupStep(fromMs: number, toMs: number): string {
  return `${Math.max(10, Math.ceil((toMs - fromMs) / 1000 / 500))}s`;
}
