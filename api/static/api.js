// The HTTP API as the page uses it: the key header, JSON, problem+json and the event stream.

const KEY_STORAGE = "optserve-key";
const keyInput = () => document.getElementById("api-key");

export function apiKey() {
  return keyInput().value.trim();
}

export function restoreKey() {
  keyInput().value = localStorage.getItem(KEY_STORAGE) || "";
}

export function headers(extra = {}) {
  const key = apiKey();
  if (key) localStorage.setItem(KEY_STORAGE, key);
  return key ? { ...extra, "X-API-Key": key } : extra;
}

/** A refused request: carries the problem document (status, detail, errors). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function call(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, body || {});
  return body;
}

export const catalog = () => Promise.all([call("/v1/optimizers"), call("/v1/objectives")]);
export const submitJob = (job) => call("/v1/jobs", {
  method: "POST", body: JSON.stringify(job), headers: { "Content-Type": "application/json" } });
export const getJob = (id) => call(`/v1/jobs/${encodeURIComponent(id)}`);
export const getResult = (id) => call(`/v1/jobs/${encodeURIComponent(id)}/result`);
export const listJobs = (limit = 20) => call(`/v1/jobs?limit=${limit}`);
export const cancelJob = (id) => call(`/v1/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });

/**
 * Follow a job's Server-Sent Events until its final event; returns the final status, or null
 * when the stream ended early (the caller reconnects; `cursor.last` resumes after the last
 * event seen). EventSource cannot send an API key, so the stream is read with fetch.
 */
export async function followEvents(id, onProgress, signal, cursor = {}) {
  const extra = cursor.last ? { "Last-Event-ID": cursor.last } : {};
  const response = await fetch(`/v1/jobs/${encodeURIComponent(id)}/events`,
    { headers: headers(extra), signal });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event.id) cursor.last = event.id;
      if (!event.data) continue;
      const data = JSON.parse(event.data);
      if (event.event === "progress") onProgress(data);
      else if (event.event === "end") {
        reader.cancel().catch(() => {});
        return data.status;
      }
    }
  }
}

function parseEvent(block) {
  const event = {};
  for (const line of block.split("\n")) {
    const at = line.indexOf(": ");
    if (at > 0) event[line.slice(0, at)] = line.slice(at + 2);
  }
  return event;
}
