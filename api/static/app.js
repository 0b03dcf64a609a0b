// optserve workbench: the form from the catalog, jobs at #/jobs/{id}, progress over SSE,
// and the result drawn with plotly.js. ES modules, no build step, nothing from the internet.
import * as api from "./api.js";
import { drawLoss, drawSweep } from "./curves.js";
import { exampleCsv } from "./data.js";
import { clearErrors, showErrors } from "./errors.js";
import { EXPRESSION, currentObjective, renderObjective, renderOptimizers, state } from "./form.js";
import { refreshJobs } from "./history.js";
import { FormErrors, buildJob, curlCommand, fillForm } from "./jobdoc.js";
import { drawContour, drawSurface } from "./landscape.js";
import { say, showFinished, showProgress } from "./progress.js";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["succeeded", "failed", "canceled"]);
const SPEC_KEY = (id) => `optserve-job:${id}`;
const EXPRESSION_ENTRY = { name: EXPRESSION, kind: "expression", summary: "Your own formula: type it below.",
  parameters: { properties: {} }, default_start: null };
let view = null;  // the job on screen: { id, abort }
let submitted = null;  // the job this page just sent: its form is already filled

function rememberSpec(id, job) {
  try {
    localStorage.setItem(SPEC_KEY(id), JSON.stringify(job));
  } catch { /* storage full: the link still works, the form is rebuilt from the result */ }
}

function storedSpec(id, job) {
  if (job?.spec) return job.spec;
  try {
    return JSON.parse(localStorage.getItem(SPEC_KEY(id)) || "null");
  } catch {
    return null;
  }
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  let built;
  try {
    built = buildJob();
  } catch (err) {
    if (!(err instanceof FormErrors)) throw err;
    showErrors({ errors: err.errors });
    return say("Fix the fields marked in the form, then Run.");
  }
  $("submit").disabled = true;
  try {
    const doc = await api.submitJob(built.job);
    rememberSpec(doc.id, built.job);
    submitted = doc.id;
    if (location.hash === `#/jobs/${doc.id}`) route();
    else location.hash = `#/jobs/${doc.id}`;
  } catch (err) {
    if (!(err instanceof api.ApiError)) return say(`Error: ${err.message}`);
    const n = showErrors(err.problem, built.rows);
    say(`The job was refused (HTTP ${err.status}): ${n} problem${n === 1 ? "" : "s"}, shown next to ${n === 1 ? "its field" : "their fields"}.`);
  } finally {
    $("submit").disabled = false;
  }
}

/** The form, objective and runs a result came from, when the job document is not at hand. */
function specFromResult(result) {
  const params = { ...result.objective.params };
  const entry = state.objectives.find((o) => o.name === result.objective.name);
  if (entry?.parameters.properties.dim) params.dim = result.objective.dimension;
  const seen = new Set();
  const runs = result.runs.filter((r) => !seen.has(r.optimizer) && seen.add(r.optimizer))
    .map((r) => ({ optimizer: r.optimizer, hyperparameters: r.hyperparameters, schedule: r.schedule, clip_norm: r.clip_norm }));
  return { objective: { name: result.objective.name, params }, runs, dtype: result.dtype,
    steps: Math.max(...result.runs.map((r) => r.steps)) };
}

function chartContext(result, spec) {
  const objective = spec?.objective || {};
  const entry = state.objectives.find((o) => o.name === result.objective.name);
  return { box: objective.box || entry?.box || null, variables: objective.variables || null,
    vector: !entry || entry.kind !== "learning" };
}

function drawAll(result, spec) {
  const context = chartContext(result, spec);
  for (const paint of [() => drawContour(result, context), () => drawLoss(result),
    () => drawSweep(result), () => drawSurface(result, context)]) {
    try {
      paint();
    } catch (err) {  // a bad chart must not stop the others, nor the next job
      console.warn("chart:", err);
    }
  }
  bindStartPicker();
}

function bindStartPicker() {
  const div = $("contour");
  if (!div.on || div.dataset.failed) return;
  div.removeAllListeners?.("plotly_click");
  div.on("plotly_click", (event) => {
    const point = event.points?.[0];
    if (!point || !Number.isFinite(point.x) || !Number.isFinite(point.y) || $("start").disabled) return;
    $("start").value = `${point.x.toPrecision(4)}, ${point.y.toPrecision(4)}`;
    say(`Start set to (${$("start").value}). Run to race from there.`);
  });
}

function addLinks(id, spec) {
  const box = $("links");
  box.replaceChildren();
  const share = document.createElement("a");
  share.href = `#/jobs/${id}`;
  share.textContent = "link to this job";
  box.append(share);
  const files = [["result JSON", `/v1/jobs/${id}/result`, "application/json"],
    ...["contour", "loss", "surface", "landscape"].map((k) => [`${k}.png`, `/v1/jobs/${id}/plot.png?kind=${k}`, "image/png"])];
  for (const [text, path, type] of files) {
    const a = document.createElement("a");
    a.href = path;
    a.textContent = text;
    a.addEventListener("click", async (e) => {  // fetched with the key, then opened
      e.preventDefault();
      const r = await fetch(path, { headers: api.headers() });
      window.open(URL.createObjectURL(new Blob([await r.arrayBuffer()], { type })), "_blank");
    });
    box.append(a);
  }
  if (spec) box.dataset.spec = "1";
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Progress until the job ends: events when the stream flows, its document while queued. */
async function waitForEnd(id, job, mine) {
  const current = () => view === mine;
  const cursor = {};
  let streaming = false;
  const poll = setInterval(async () => {  // queued: where in the queue, until events flow
    if (streaming || !current()) return;
    const latest = await api.getJob(id).catch(() => null);
    if (latest && current() && !streaming && !FINAL.has(latest.status)) showProgress(id, latest);
  }, 1000);
  try {
    while (current() && !FINAL.has(job.status)) {
      const ended = await api.followEvents(id, (event) => {
        streaming = true;
        if (current()) showProgress(id, { status: "running" }, event);
      }, mine.abort.signal, cursor).catch((err) => {
        if (err.name === "AbortError") throw err;
        return null;  // the stream broke: ask for the job, then reconnect
      });
      job = await api.getJob(id);
      if (!ended && !FINAL.has(job.status)) await sleep(1000);
    }
  } finally {
    clearInterval(poll);
  }
  return job;
}

async function openJob(id) {
  view?.abort.abort();
  const mine = { id, abort: new AbortController() };
  view = mine;
  const current = () => view === mine;
  document.body.dataset.job = id;
  delete document.body.dataset.shown;
  $("links").replaceChildren();
  let job = await api.getJob(id);
  const spec = storedSpec(id, job);
  if (spec && submitted !== id) fillForm(spec);
  showProgress(id, job);
  refreshJobs();
  if (!FINAL.has(job.status)) job = await waitForEnd(id, job, mine);
  if (!current()) return;
  document.body.dataset.status = job.status;
  if (job.status !== "succeeded") {
    showFinished(id, job, null);
    refreshJobs();
    return;
  }
  const result = await api.getResult(id);
  if (!current()) return;
  showFinished(id, job, result);
  if (!spec) fillForm(specFromResult(result));
  drawAll(result, spec);
  addLinks(id, spec);
  refreshJobs();
  document.body.dataset.shown = id;
}

async function route() {
  const match = /^#\/jobs\/([0-9a-zA-Z_-]+)$/.exec(location.hash);
  if (!match) return;
  try {
    await openJob(match[1]);
  } catch (err) {
    if (err.name === "AbortError") return;
    say(err instanceof api.ApiError && err.status === 404 ? `There is no job ${match[1]} for this key.` : `Error: ${err.message}`);
  }
}

function copyText(text, what) {
  $("copied").textContent = text;
  $("copied-box").hidden = false;
  navigator.clipboard?.writeText(text).then(() => say(`${what} copied to the clipboard.`),
    () => say(`${what} is shown below the buttons; copy it from there.`));
}

function copyJob(asCurl) {
  clearErrors();
  try {
    const { job } = buildJob();
    copyText(asCurl ? curlCommand(job, !!api.apiKey()) : JSON.stringify(job, null, 2), asCurl ? "The curl command" : "The job JSON");
  } catch (err) {
    if (!(err instanceof FormErrors)) throw err;
    showErrors({ errors: err.errors });
  }
}

function wire() {
  $("objective").addEventListener("change", renderObjective);
  $("show-all").addEventListener("change", renderOptimizers);
  $("job-form").addEventListener("submit", submit);
  $("copy-curl").addEventListener("click", () => copyJob(true));
  $("copy-json").addEventListener("click", () => copyJob(false));
  $("refresh-jobs").addEventListener("click", refreshJobs);
  $("data-example").addEventListener("click", () => {
    $("data-csv").value = exampleCsv(currentObjective().name === "classification");
  });
  $("data-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) $("data-csv").value = await file.text();
  });
  window.addEventListener("hashchange", route);
}

async function start() {
  api.restoreKey();
  wire();
  try {
    const [opts, objs] = await api.catalog();
    Object.assign(state, { optimizers: opts.optimizers, schedules: opts.schedules || [],
      objectives: [...objs.objectives, EXPRESSION_ENTRY] });
  } catch (err) {
    return say(`The catalog could not be loaded (${err.message}); set the API key and reload.`);
  }
  for (const o of state.objectives) {
    $("objective").add(new Option(o.name === EXPRESSION ? "expression (your formula)" : o.name, o.name));
  }
  $("objective").value = "rosenbrock";
  renderOptimizers();
  renderObjective();
  document.body.dataset.ready = "1";
  refreshJobs();
  route();
}

start();
