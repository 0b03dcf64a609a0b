// What the job is doing, in words: queued (and where), compiling, running, then its times.

const $ = (id) => document.getElementById(id);

export function ms(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return null;
  return value >= 1000 ? `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)} s` : `${value.toFixed(value >= 10 ? 0 : 1)} ms`;
}

export function say(text) {
  $("status").textContent = text;
}

function bar(fraction) {
  const el = $("progress");
  el.hidden = fraction === undefined;
  if (fraction === null) el.removeAttribute("value");  // indeterminate: compiling
  else if (fraction !== undefined) el.value = fraction;
}

const short = (id) => id.slice(0, 8);

/** A job document (GET /v1/jobs/{id}) or a progress event, shown as the current phase. */
export function showProgress(id, job, event = null) {
  const progress = event || job?.progress || null;
  const status = job?.status || "running";
  if (status === "queued" && !event) {
    const position = job.queue_position ?? job.progress?.queue_position;
    bar(0);
    return say(`Job ${short(id)} is queued` + (Number.isInteger(position) ? `, number ${position + 1} in the queue.` : "."));
  }
  const phase = progress?.phase || (progress && progress.steps_done > 0 ? "running" : "compiling");
  if (phase === "compiling") {
    bar(null);
    const n = progress?.programs_total ?? progress?.programs;
    return say(`Job ${short(id)}: compiling` + (n ? ` ${n} program${n > 1 ? "s" : ""}` : "") + "…");
  }
  if (phase === "landscape") {
    bar(1);
    return say(`Job ${short(id)}: computing the landscape…`);
  }
  const done = progress?.steps_done ?? 0;
  const total = progress?.steps_total ?? 0;
  bar(total ? done / total : 0);
  const runs = progress?.runs_running;
  return say(`Job ${short(id)}: running, ${done.toLocaleString()} of ${total.toLocaleString()} steps` +
    (Number.isInteger(runs) ? `, ${runs} run${runs === 1 ? "" : "s"} still going.` : "."));
}

function wallMs(job) {
  if (!job?.created_at || !job?.finished_at) return null;
  return Date.parse(job.finished_at) - Date.parse(job.created_at);
}

export function showFinished(id, job, result) {
  bar(undefined);
  if (job.status !== "succeeded") {
    const detail = job.error?.detail || job.error?.type || "";
    return say(`Job ${short(id)} ${job.status}${detail ? `: ${detail}` : "."}`);
  }
  const t = result.timing || {};
  const parts = [`compute ${ms(t.run_ms) ?? "?"}`];
  const n = t.programs_compiled;
  if (t.compile_ms > 0) {
    parts.push(`compiling ${ms(t.compile_ms)}` + (Number.isInteger(n) && n > 0 ? ` (${n} program${n === 1 ? "" : "s"})` : ""));
  } else if (t.compile_ms === 0 || n === 0) {
    parts.push("compiled programs reused");
  }
  if (ms(t.landscape_ms)) parts.push(`landscape ${ms(t.landscape_ms)}`);
  const wall = ms(wallMs(job));
  const queued = ms(t.queued_ms);
  const where = [result.device || job.device, result.dtype].filter(Boolean).join(", ");
  const runs = result.runs.length;
  say(`Job ${short(id)} succeeded: ${runs} run${runs === 1 ? "" : "s"}` + (where ? ` on ${where}` : "") +
    `. ${parts.join(", ")}` + (wall ? `; wall time ${wall}` : "") + (queued ? ` (queued ${queued})` : "") + ".");
}
