// The form, built from the catalog's JSON Schemas: objective parameters and one row per
// optimizer with its hyperparameters, sweep, schedule and gradient clipping.
import { defaultLearningRate } from "./defaults.js";

const $ = (id) => document.getElementById(id);
const SEED_FAMILIES = new Set(["gradient descent", "adaptive", "adam", "wrapper", "layer-wise"]);
export const DEFAULT_CHECKED = ["adam", "nesterov", "rmsprop"];
export const EXPRESSION = "expression";
export const state = { optimizers: [], objectives: [], schedules: [] };

/** One labelled input for a JSON Schema property; `owner` names it for screen readers. */
export function schemaInput(name, schema, idPrefix, owner = "") {
  const label = document.createElement("label");
  label.title = schema.description || "";
  const types = [].concat(schema.type);
  let el;
  if (schema.enum) {
    el = document.createElement("select");
    for (const v of schema.enum) el.add(new Option(v, v));
    el.value = schema.default;
  } else if (types.includes("boolean")) {
    el = document.createElement("input");
    el.type = "checkbox";
    el.checked = !!schema.default;
  } else if (types.includes("array")) {
    el = document.createElement("input");
    el.value = JSON.stringify(schema.default ?? []);
    el.dataset.json = "1";
  } else {
    el = document.createElement("input");
    el.type = "number";
    el.step = "any";
    if (schema.default !== null && schema.default !== undefined) el.value = schema.default;
    if (schema.minimum !== undefined) el.min = schema.minimum;
    if (schema.maximum !== undefined) el.max = schema.maximum;
    el.dataset.integer = types.includes("integer") ? "1" : "";
    if (types.includes("null")) el.placeholder = "none";
  }
  el.name = name;
  el.id = `${idPrefix}-${name}`;
  if (owner) el.setAttribute("aria-label", `${owner} ${name.replaceAll("_", " ")}`);
  label.append(`${name} `, el);
  return label;
}

/** The values of a container's schema inputs; empty number fields are left out. */
export function readParams(container, schema) {
  const out = {};
  for (const el of container.querySelectorAll(":scope > label > input, :scope > label > select")) {
    if (!schema.properties[el.name]) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.dataset.json) out[el.name] = parseJson(el.value);
    else if (el.tagName === "SELECT") out[el.name] = el.value;
    else if (el.value !== "") out[el.name] = el.dataset.integer ? parseInt(el.value, 10) : parseFloat(el.value);
  }
  return out;
}

function parseJson(text) {
  try {
    return JSON.parse(text || "null");
  } catch {
    return text;  // sent as it is: the server names the field
  }
}

export function writeParams(container, values) {
  for (const [name, value] of Object.entries(values || {})) {
    const el = container.querySelector(`:scope > label > [name="${CSS.escape(name)}"]`);
    if (!el) continue;
    if (el.type === "checkbox") el.checked = !!value;
    else if (el.dataset.json) el.value = JSON.stringify(value);
    else el.value = value ?? "";
    el.dataset.touched = "1";
  }
}

export const currentObjective = () => state.objectives.find((o) => o.name === $("objective").value);
export const optimizerEntry = (name) => state.optimizers.find((o) => o.name === name);

export function renderObjective() {
  const obj = currentObjective();
  const isExpression = obj.name === EXPRESSION;
  $("objective-summary").textContent = obj.summary;
  $("expression-box").hidden = !isExpression;
  $("data-box").hidden = !obj.data;
  $("target-note").textContent = obj.name === "classification"
    ? "column is the class label (0, 1, …)" : "column is the target";
  const box = $("objective-params");
  box.replaceChildren();
  for (const [name, schema] of Object.entries(obj.parameters.properties)) {
    box.append(schemaInput(name, schema, "obj", obj.name));
  }
  $("start").placeholder = obj.default_start ? obj.default_start.join(", ") : "not for networks";
  $("start").disabled = obj.kind === "learning";
  applyDefaultRates();
}

/** Learning rates follow the objective until the user types one. */
export function applyDefaultRates() {
  const objective = currentObjective().name;
  for (const row of $("optimizers").querySelectorAll(".optimizer")) {
    const el = row.querySelector(`input[name="learning_rate"]`);
    const rate = defaultLearningRate(optimizerEntry(row.dataset.name), objective);
    if (el && !el.dataset.touched && rate !== null) el.value = rate;
  }
}

export function renderOptimizers() {
  const all = $("show-all").checked;
  const box = $("optimizers");
  const kept = new Map([...box.querySelectorAll(".optimizer")].map((r) => [r.dataset.name, r]));
  if (!box.dataset.ready) {
    box.dataset.ready = "1";
    for (const opt of state.optimizers) kept.set(opt.name, optimizerRow(opt, DEFAULT_CHECKED.includes(opt.name)));
  }
  box.replaceChildren();
  for (const opt of state.optimizers) {
    const row = kept.get(opt.name) || optimizerRow(opt, false);
    if (all || SEED_FAMILIES.has(opt.family) || row.querySelector("input.pick").checked) box.append(row);
  }
  applyDefaultRates();
}

function optimizerRow(opt, checked) {
  const row = document.createElement("div");
  row.className = "optimizer";
  row.dataset.name = opt.name;
  const pick = document.createElement("input");
  pick.type = "checkbox";
  pick.className = "pick";
  pick.value = opt.name;
  pick.id = `opt-${opt.name}`;
  pick.checked = checked;
  const label = document.createElement("label");
  label.htmlFor = pick.id;
  label.title = opt.summary;
  label.textContent = opt.name;
  const params = document.createElement("div");
  params.className = "params hp";
  params.hidden = !checked;
  for (const [name, schema] of Object.entries(opt.hyperparameters.properties)) {
    params.append(schemaInput(name, schema, `hp-${opt.name}`, opt.name));
  }
  params.addEventListener("input", (e) => { e.target.dataset.touched = "1"; });
  const extras = document.createElement("details");
  extras.className = "extras";
  extras.id = `more-${opt.name}`;
  extras.hidden = !checked;
  const summary = document.createElement("summary");
  summary.textContent = "sweep, schedule, clipping";
  const body = document.createElement("div");
  body.className = "params";
  body.append(...sweepInputs(opt), ...scheduleInputs(opt), clipInput(opt));
  extras.append(summary, body);
  if (opt.requires_inner) params.append(hint("wraps sgd at its default learning rate"));
  const error = document.createElement("p");
  error.className = "field-error run-error";
  error.id = `err-run-${opt.name}`;
  pick.setAttribute("aria-describedby", error.id);
  pick.addEventListener("change", () => { params.hidden = extras.hidden = !pick.checked; });
  row.append(pick, label, params, extras, error);
  return row;
}

function hint(text) {
  const note = document.createElement("span");
  note.className = "hint";
  note.textContent = text;
  return note;
}

function labelled(text, el) {
  const label = document.createElement("label");
  label.append(`${text} `, el);
  return label;
}

function sweepInputs(opt) {
  const param = document.createElement("select");
  param.id = `sweep-${opt.name}-param`;
  param.className = "sweep-param";
  param.setAttribute("aria-label", `${opt.name} sweep over`);
  param.add(new Option("no sweep", ""));
  for (const [name, schema] of Object.entries(opt.hyperparameters.properties)) {
    if ([].concat(schema.type).some((t) => t === "number" || t === "integer")) param.add(new Option(name, name));
  }
  param.add(new Option("seed", "seed"));
  const values = document.createElement("input");
  values.id = `sweep-${opt.name}-values`;
  values.className = "sweep-values";
  values.placeholder = "e.g. 0.001, 0.01, 0.1";
  values.setAttribute("aria-label", `${opt.name} sweep values`);
  return [labelled("sweep", param), labelled("values", values)];
}

function scheduleInputs(opt) {
  if (!opt.accepts_schedule) return [];
  const kind = document.createElement("select");
  kind.id = `sched-${opt.name}`;
  kind.className = "schedule-kind";
  kind.setAttribute("aria-label", `${opt.name} learning-rate schedule`);
  for (const s of state.schedules) kind.add(new Option(s.kind, s.kind));
  const params = document.createElement("div");
  params.className = "params schedule-params";
  kind.addEventListener("change", () => renderSchedule(opt, kind, params));
  return [labelled("schedule", kind), params];
}

export function renderSchedule(opt, kind, params) {
  params.replaceChildren();
  const schedule = state.schedules.find((s) => s.kind === kind.value);
  for (const [name, schema] of Object.entries(schedule?.parameters.properties || {})) {
    params.append(schemaInput(name, schema, `sched-${opt.name}`, `${opt.name} schedule`));
  }
}

function clipInput(opt) {
  const clip = document.createElement("input");
  clip.type = "number";
  clip.step = "any";
  clip.min = "0";
  clip.id = `clip-${opt.name}`;
  clip.className = "clip-norm";
  clip.placeholder = "off";
  clip.setAttribute("aria-label", `${opt.name} clip gradient norm`);
  return labelled("clip norm", clip);
}
