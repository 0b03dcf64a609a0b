// The job document from the form and back, and the same job as curl or JSON to copy.
import { DataError, parseCsv } from "./data.js";
import { defaultLearningRate } from "./defaults.js";
import { EXPRESSION, currentObjective, optimizerEntry, readParams, renderObjective,
  renderOptimizers, renderSchedule, state, writeParams } from "./form.js";

const $ = (id) => document.getElementById(id);

/** Problems found before sending: shown like the server's, next to their field. */
export class FormErrors extends Error {
  constructor(errors) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join("; "));
    this.errors = errors;
  }
}

function numbers(text, field, errors, count = null) {
  const parts = text.split(/[,\s]+/).filter((p) => p !== "");
  const values = parts.map(Number);
  if (values.some((v) => !Number.isFinite(v))) {
    errors.push({ field, message: `"${text}" is not a list of numbers` });
  } else if (count !== null && values.length !== count) {
    errors.push({ field, message: `needs ${count} numbers, not ${values.length}` });
  }
  return values;
}

function pairs(values) {
  return [[values[0], values[1]], [values[2], values[3]]];
}

function optional(id) {
  const text = $(id).value.trim();
  return text === "" ? null : Number(text);
}

/** The job the form describes; `rows[i]` is the optimizer row of `runs[i]`. */
export function buildJob() {
  const errors = [];
  const objective = currentObjective();
  const spec = { params: readParams($("objective-params"), objective.parameters) };
  if (objective.name === EXPRESSION) {
    spec.expression = $("expression").value;
    spec.variables = $("variables").value.split(/[,\s]+/).filter(Boolean);
    const box = $("expression-box-bounds").value.trim();
    if (box) spec.box = pairs(numbers(box, "objective.box", errors, 4));
    delete spec.params;
  } else {
    spec.name = objective.name;
  }
  if (objective.data) {
    try {
      spec.data = parseCsv($("data-csv").value, objective.name === "classification");
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      errors.push({ field: "objective.data", message: err.message });
    }
  }
  const rows = [];
  const runs = [];
  for (const row of $("optimizers").querySelectorAll(".optimizer")) {
    if (!row.querySelector("input.pick").checked) continue;
    runs.push(runOf(row, objective.name, `runs[${runs.length}]`, errors));
    rows.push(row);
  }
  if (!runs.length) errors.push({ field: "runs", message: "choose at least one optimizer" });
  const job = { objective: spec, runs, steps: parseInt($("steps").value, 10),
    record: { every: parseInt($("every").value, 10) }, seed: parseInt($("seed").value, 10),
    dtype: $("dtype").value };
  const start = $("start").value.trim();
  if (start && !$("start").disabled) job.init = { point: numbers(start, "init.point", errors) };
  const stopping = {};
  for (const key of ["tolerance", "grad_tolerance", "target_loss"]) {
    const v = optional(`stop-${key}`);
    if (v !== null) stopping[key] = v;
  }
  if (Object.keys(stopping).length) job.stopping = stopping;
  if ($("landscape").checked) job.record.landscape = landscapeOf(objective, errors);
  if (errors.length) throw new FormErrors(errors);
  return { job, rows };
}

function runOf(row, objectiveName, where, errors) {
  const opt = optimizerEntry(row.dataset.name);
  const run = { optimizer: opt.name,
    hyperparameters: readParams(row.querySelector(".params.hp"), opt.hyperparameters) };
  if (opt.requires_inner) {
    const rate = defaultLearningRate(optimizerEntry("sgd"), objectiveName);
    run.inner = { optimizer: "sgd", ...(rate ? { hyperparameters: { learning_rate: rate } } : {}) };
  }
  const param = row.querySelector(".sweep-param").value;
  const values = row.querySelector(".sweep-values").value.trim();
  if (param && values) {
    const list = numbers(values, `${where}.sweep.${param}`, errors);
    run.sweep = { [param]: list };
    delete run.hyperparameters[param];
  }
  const kind = row.querySelector(".schedule-kind");
  if (kind && kind.value !== "constant") {
    const schema = state.schedules.find((s) => s.kind === kind.value).parameters;
    run.schedule = { kind: kind.value, ...readParams(row.querySelector(".schedule-params"), schema) };
  }
  const clip = row.querySelector(".clip-norm").value.trim();
  if (clip) run.clip_norm = Number(clip);
  return run;
}

function landscapeOf(objective, errors) {
  const land = { resolution: parseInt($("resolution").value, 10) };
  const kind = $("landscape-kind").value;
  if (kind) land.kind = kind;
  const bounds = $("landscape-bounds").value.trim();
  const run = $("landscape-run").value.trim();
  if (run) land.run = parseInt(run, 10);
  if (bounds) land.bounds = pairs(numbers(bounds, "record.landscape.bounds", errors, 4));
  if ($("landscape-log").checked || (objective.kind === "learning" && !kind)) land.log = true;
  return land;
}

/** Put a job document back into the form (reopening a job, a shared link). */
export function fillForm(job) {
  const objective = job.objective || {};
  $("objective").value = objective.expression ? EXPRESSION : objective.name;
  if (!$("objective").value) return;
  renderObjective();
  writeParams($("objective-params"), objective.params);
  if (objective.expression) {
    $("expression").value = objective.expression;
    $("variables").value = (objective.variables || ["x", "y"]).join(", ");
    if (objective.box) $("expression-box-bounds").value = objective.box.flat().join(", ");
  }
  if (objective.data) {
    $("data-csv").value = objective.data.x.map((r, i) => [...[].concat(r), objective.data.y[i]].join(",")).join("\n");
  }
  fillRuns(job.runs || []);
  $("steps").value = job.steps ?? 1000;
  $("every").value = job.record?.every ?? 1;
  $("seed").value = job.seed ?? 0;
  $("dtype").value = job.dtype || "float32";
  $("start").value = job.init?.point ? job.init.point.join(", ") : "";
  for (const key of ["tolerance", "grad_tolerance", "target_loss"]) {
    $(`stop-${key}`).value = job.stopping?.[key] ?? "";
  }
  const land = job.record?.landscape;
  $("landscape").checked = !!land;
  if (land) {
    $("landscape-kind").value = land.kind || "";
    $("resolution").value = [].concat(land.resolution ?? 101)[0];
    $("landscape-bounds").value = land.bounds ? land.bounds.flat().join(", ") : "";
    $("landscape-log").checked = !!land.log;
    $("landscape-run").value = land.run ?? "";
  }
}

function fillRuns(runs) {
  for (const pick of $("optimizers").querySelectorAll("input.pick")) {
    pick.checked = false;
    pick.dispatchEvent(new Event("change"));
  }
  $("show-all").checked = runs.some((r) => optimizerEntry(r.optimizer)?.family === "optax");
  renderOptimizers();
  for (const run of runs) {
    const row = $("optimizers").querySelector(`.optimizer[data-name="${CSS.escape(run.optimizer)}"]`);
    if (!row) continue;
    const pick = row.querySelector("input.pick");
    pick.checked = true;
    pick.dispatchEvent(new Event("change"));
    writeParams(row.querySelector(".params.hp"), run.hyperparameters);
    const [param, values] = Object.entries(run.sweep || {})[0] || ["", []];
    row.querySelector(".sweep-param").value = param;
    row.querySelector(".sweep-values").value = values.join(", ");
    const kind = row.querySelector(".schedule-kind");
    if (kind) {
      kind.value = run.schedule?.kind || "constant";
      renderSchedule(optimizerEntry(run.optimizer), kind, row.querySelector(".schedule-params"));
      writeParams(row.querySelector(".schedule-params"), run.schedule);
    }
    row.querySelector(".clip-norm").value = run.clip_norm ?? "";
    row.querySelector("details.extras").open = !!(run.sweep || run.schedule || run.clip_norm);
  }
}

const shellQuote = (text) => `'${text.replaceAll("'", "'\\''")}'`;

export function curlCommand(job, withKey) {
  const key = withKey ? ` \\\n  -H "X-API-Key: $OPTSERVE_API_KEY"` : "";
  return `curl -sS -X POST ${location.origin}/v1/jobs \\\n  -H 'Content-Type: application/json'${key} \\\n` +
    `  -d ${shellQuote(JSON.stringify(job))}`;
}
