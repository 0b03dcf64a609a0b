// Drawing one chart safely: a chart that fails is purged and explained, and never stops the
// other charts or the next run.

const CONFIG = { responsive: true, displaylogo: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "sendDataToCloud"] };
const FONT = { family: "system-ui, sans-serif", size: 12, color: "#1d232a" };

export function baseLayout(title, extra = {}) {
  return { title: { text: title, font: { size: 15 }, x: 0.02, xanchor: "left" },
    font: FONT, margin: { t: 48, r: 16, b: 48, l: 64 }, paper_bgcolor: "white",
    plot_bgcolor: "white", legend: { orientation: "h", y: -0.2 }, autosize: true, ...extra };
}

function note(id, text) {
  const el = document.getElementById(`${id}-note`);
  if (el) el.textContent = text || "";
}

export function draw(id, traces, layout, caption = "") {
  const div = document.getElementById(id);
  try {
    if (!window.Plotly) throw new Error("plotly.js did not load");
    if (div.dataset.failed) window.Plotly.purge(div);
    window.Plotly.react(div, traces, layout, CONFIG);
    delete div.dataset.failed;
    div.hidden = false;
    note(id, caption);
    return true;
  } catch (err) {
    console.warn(`chart ${id}:`, err);
    div.dataset.failed = "1";
    try {
      window.Plotly?.purge(div);
    } catch { /* nothing drawn */ }
    note(id, `This chart could not be drawn: ${err.message}`);
    return false;
  }
}

export function clear(id, caption = "") {
  const div = document.getElementById(id);
  try {
    window.Plotly?.purge(div);
  } catch { /* nothing drawn */ }
  delete div.dataset.failed;
  div.hidden = true;
  note(id, caption);
}

/** Whether this browser can draw WebGL (the 3-D surface). */
export function hasWebGL() {
  try {
    const canvas = document.createElement("canvas");
    return !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}
