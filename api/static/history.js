// The job list: your recent jobs with their status, a link to each, and cancel.
import { cancelJob, listJobs } from "./api.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
let timer = null;

function cell(content) {
  const td = document.createElement("td");
  td.append(content);
  return td;
}

function row(job) {
  const tr = document.createElement("tr");
  tr.dataset.job = job.id;
  const created = job.created_at ? new Date(job.created_at).toLocaleString() : "";
  const summary = job.summary || {};
  const status = document.createElement("span");
  status.className = `badge ${job.status}`;
  status.textContent = job.status + (job.cancel_requested && ACTIVE.has(job.status) ? " (canceling)" : "");
  const open = document.createElement("a");
  open.href = `#/jobs/${job.id}`;
  open.textContent = "open";
  open.setAttribute("aria-label", `open job ${job.id.slice(0, 8)}`);
  const actions = document.createElement("span");
  actions.className = "row-actions";
  actions.append(open);
  if (ACTIVE.has(job.status) && !job.cancel_requested) {
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary small cancel";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", `cancel job ${job.id.slice(0, 8)}`);
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await cancelJob(job.id);
      } catch (err) {
        console.warn("cancel:", err.message);
      }
      await refreshJobs();
    });
    actions.append(" ", cancel);
  }
  const runs = `${summary.runs ?? "?"} × ${(summary.steps ?? 0).toLocaleString()} steps`;
  tr.append(cell(created), cell(`${summary.objective ?? ""} (${(summary.optimizers || []).join(", ")})`),
    cell(runs), cell(status), cell(actions));
  return tr;
}

export async function refreshJobs() {
  clearTimeout(timer);
  const body = $("jobs").tBodies[0];
  let items;
  try {
    items = (await listJobs()).items;
  } catch (err) {
    body.replaceChildren(message(`The job list is unavailable: ${err.message}`));
    return;
  }
  body.replaceChildren(...(items.length ? items.map(row) : [message("No jobs yet.")]));
  if (items.some((j) => ACTIVE.has(j.status))) timer = setTimeout(refreshJobs, 2000);
}

function message(text) {
  const tr = document.createElement("tr");
  const td = document.createElement("td");
  td.colSpan = 5;
  td.textContent = text;
  tr.append(td);
  return tr;
}
