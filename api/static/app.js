// optserve web page: forms from the catalog's JSON Schemas, submit, follow the Server-Sent
// Events, then draw the result with plotly.js. No build step; nothing from the internet.
"use strict";

const $ = (id) => document.getElementById(id);
const SEED_FAMILIES = new Set(["gradient descent", "adaptive", "adam", "wrapper", "layer-wise"]);
const DEFAULT_CHECKED = ["adam", "nesterov", "rmsprop"];
let catalog = { optimizers: [], objectives: [] };

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem("optserve-key", key);
  return key ? { ...extra, "X-API-Key": key } : extra;
}

function input(name, schema, prefix) {
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
  }
  el.name = name;
  el.id = `${prefix}-${name}`;
  label.append(`${name} `, el);
  return label;
}

function readParams(container, schema) {
  const out = {};
  for (const el of container.querySelectorAll("input, select")) {
    const prop = schema.properties[el.name];
    if (!prop) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.dataset.json) out[el.name] = JSON.parse(el.value || "null");
    else if (el.tagName === "SELECT") out[el.name] = el.value;
    else if (el.value === "") continue;
    else out[el.name] = el.dataset.integer ? parseInt(el.value, 10) : parseFloat(el.value);
  }
  return out;
}

function renderObjective() {
  const obj = catalog.objectives.find((o) => o.name === $("objective").value);
  $("objective-summary").textContent = obj.summary;
  const box = $("objective-params");
  box.replaceChildren();
  for (const [name, schema] of Object.entries(obj.parameters.properties)) {
    box.append(input(name, schema, "obj"));
  }
}

function renderOptimizers() {
  const all = $("show-all").checked;
  const box = $("optimizers");
  const checked = new Set([...box.querySelectorAll("input.pick:checked")].map((e) => e.value));
  if (!box.dataset.ready) DEFAULT_CHECKED.forEach((n) => checked.add(n));
  box.dataset.ready = "1";
  box.replaceChildren();
  for (const opt of catalog.optimizers) {
    if (!all && !SEED_FAMILIES.has(opt.family)) continue;
    const row = document.createElement("div");
    row.className = "optimizer";
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.className = "pick";
    pick.value = opt.name;
    pick.id = `opt-${opt.name}`;
    pick.checked = checked.has(opt.name);
    const label = document.createElement("label");
    label.htmlFor = pick.id;
    label.title = opt.summary;
    label.textContent = ` ${opt.name}`;
    const params = document.createElement("div");
    params.className = "params";
    params.hidden = !pick.checked;
    for (const [name, schema] of Object.entries(opt.hyperparameters.properties)) {
      params.append(input(name, schema, `hp-${opt.name}`));
    }
    if (opt.requires_inner) {
      const note = document.createElement("span");
      note.className = "hint";
      note.textContent = "wraps sgd (learning rate 1e-3)";
      params.append(note);
    }
    pick.addEventListener("change", () => { params.hidden = !pick.checked; });
    row.append(pick, label, params);
    box.append(row);
  }
}

function buildJob() {
  const objective = catalog.objectives.find((o) => o.name === $("objective").value);
  const runs = [];
  for (const row of $("optimizers").querySelectorAll(".optimizer")) {
    const pick = row.querySelector("input.pick");
    if (!pick.checked) continue;
    const opt = catalog.optimizers.find((o) => o.name === pick.value);
    const run = { optimizer: opt.name,
                  hyperparameters: readParams(row.querySelector(".params"), opt.hyperparameters) };
    if (opt.requires_inner) run.inner = { optimizer: "sgd" };
    runs.push(run);
  }
  const job = {
    objective: { name: objective.name,
                 params: readParams($("objective-params"), objective.parameters) },
    runs,
    steps: parseInt($("steps").value, 10),
    record: { every: parseInt($("every").value, 10) },
  };
  if ($("landscape").checked) {
    job.record.landscape = { resolution: parseInt($("resolution").value, 10) };
    if (objective.kind === "learning") Object.assign(job.record.landscape, { log: true });
  }
  return job;
}

function status(text) { $("status").textContent = text; }

function showErrors(problem) {
  const list = $("errors");
  list.replaceChildren();
  const items = problem.errors || [{ field: "", message: problem.detail || problem.title }];
  for (const e of items) {
    const li = document.createElement("li");
    li.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
    list.append(li);
  }
}

async function follow(jobId) {
  // EventSource cannot send an API key: read the stream with fetch instead.
  const response = await fetch(`/v1/jobs/${jobId}/events`, { headers: headers() });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = {};
      for (const line of block.split("\n")) {
        const at = line.indexOf(": ");
        if (at > 0) event[line.slice(0, at)] = line.slice(at + 2);
      }
      if (!event.data) continue;
      const data = JSON.parse(event.data);
      if (event.event === "progress") {
        $("progress").value = data.fraction;
        if (data.phase === "compiling") status("compiling…");
        else if (data.phase === "landscape") status("evaluating the landscape…");
        else status(`running: ${data.steps_done.toLocaleString()} of ${data.steps_total.toLocaleString()} steps`);
      } else if (event.event === "end") {
        return data.status;
      }
    }
  }
}

function drawResult(result) {
  const land = result.landscape;
  const traces = [];
  const grid = land && land.kind !== "interpolation" && land.y;
  if (grid) {
    const z = land.z.map((row) => row.map((v) => (v === null ? null :
      (land.log ? v : Math.log(Math.max(v - (result.objective.minimum_value ?? 0), 1e-12))))));
    traces.push({ type: "contour", x: land.x, y: land.y, z, colorscale: "Viridis",
                  ncontours: 40, showscale: false, name: "log value", hoverinfo: "skip" });
  }
  for (const run of result.runs) {
    if (!run.trajectory || !run.trajectory.length || run.trajectory[0].length < 2) continue;
    traces.push({ type: "scatter", mode: "lines", name: `${run.label} (${run.status})`,
                  x: run.trajectory.map((p) => p[0]), y: run.trajectory.map((p) => p[1]),
                  line: { width: 2.5 } });
  }
  for (const m of result.objective.minima || []) {
    traces.push({ type: "scatter", mode: "markers", name: "minimum", x: [m[0]], y: [m[1]],
                  marker: { symbol: "star", size: 16, color: "orange", line: { width: 1 } } });
  }
  Plotly.react("contour", traces, { title: { text: "Trajectories over the contour (log)" },
    margin: { t: 40 }, legend: { orientation: "h" } });
  Plotly.react("loss", result.runs.map((run) => ({
    type: "scatter", mode: "lines", name: run.label, x: run.step,
    y: run.loss.map((v) => (v === null ? null : v)) })),
    { title: { text: "Loss against step" }, yaxis: { type: "log" }, margin: { t: 40 } });
  if (grid) {
    Plotly.react("surface", [{ type: "surface", x: land.x, y: land.y,
      z: land.z.map((row) => row.map((v) => (v === null ? null : (land.log ? v : Math.log1p(Math.max(v, 0)))))),
      colorscale: "Viridis" }], { title: { text: `Landscape (${land.kind}), log scale` },
      margin: { t: 40 }, height: 560 });
  } else {
    Plotly.purge("surface");
  }
}

async function link(jobId, path, text, type) {
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = text;
  a.addEventListener("click", async (e) => {
    e.preventDefault();
    const r = await fetch(path, { headers: headers() });
    const blob = new Blob([await r.arrayBuffer()], { type });
    window.open(URL.createObjectURL(blob), "_blank");
  });
  $("links").append(a);
}

async function submit(event) {
  event.preventDefault();
  $("errors").replaceChildren();
  $("links").replaceChildren();
  const job = buildJob();
  if (!job.runs.length) { showErrors({ detail: "choose at least one optimizer" }); return; }
  $("submit").disabled = true;
  try {
    const r = await fetch("/v1/jobs", { method: "POST", body: JSON.stringify(job),
      headers: headers({ "Content-Type": "application/json" }) });
    const body = await r.json();
    if (r.status !== 202) { status("The job was refused:"); showErrors(body); return; }
    $("progress").hidden = false;
    $("progress").value = 0;
    status(`job ${body.id} queued`);
    const final = await follow(body.id);
    if (final !== "succeeded") { status(`job ${body.id} ${final}`); return; }
    const result = await (await fetch(`/v1/jobs/${body.id}/result`, { headers: headers() })).json();
    $("progress").value = 1;
    status(`job ${body.id} succeeded in ${result.timing.run_ms.toFixed(1)} ms of compute`);
    drawResult(result);
    document.body.dataset.lastJob = body.id;
    await link(body.id, `/v1/jobs/${body.id}/result`, "result JSON", "application/json");
    for (const kind of ["contour", "loss", "surface", "landscape"]) {
      await link(body.id, `/v1/jobs/${body.id}/plot.png?kind=${kind}`, `${kind}.png`, "image/png");
    }
  } catch (err) {
    status(`error: ${err}`);
  } finally {
    $("submit").disabled = false;
  }
}

async function start() {
  $("api-key").value = localStorage.getItem("optserve-key") || "";
  const [opts, objs] = await Promise.all([
    fetch("/v1/optimizers").then((r) => r.json()),
    fetch("/v1/objectives").then((r) => r.json())]);
  // objectives a form can set up: the test functions and the seed's sine regression
  // (regression and classification need data sent with the job)
  catalog = { optimizers: opts.optimizers, objectives: objs.objectives.filter(
    (o) => o.kind !== "learning" || o.name === "sine_regression") };
  for (const o of catalog.objectives) $("objective").add(new Option(o.name, o.name));
  $("objective").value = "rosenbrock";
  $("objective").addEventListener("change", renderObjective);
  $("show-all").addEventListener("change", renderOptimizers);
  $("job-form").addEventListener("submit", submit);
  renderObjective();
  renderOptimizers();
  document.body.dataset.ready = "1";
}

start();
