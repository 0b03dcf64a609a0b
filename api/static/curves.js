// Loss against step for every run, and the sweep chart: final loss against the swept value.
import { baseLayout, clear, draw } from "./plot.js";
import { colourOf, finitePrefix, formatNumber, isFiniteNumber, linearAxis, logAxis,
  logScale } from "./numeric.js";

const MAX_CURVES = 60;

export function drawLoss(result) {
  const runs = result.runs.slice(0, MAX_CURVES);
  const all = runs.flatMap((r) => [...r.loss, ...(r.validation_loss || [])]);
  const scale = logScale(all, result.objective.minimum_value);
  const traces = [];
  const ends = { x: [], y: [], text: [], colours: [] };
  runs.forEach((run, i) => {
    const [loss, cut] = finitePrefix(run.loss);
    const diverged = cut || run.status === "diverged";
    const colour = colourOf(i);
    traces.push({ type: "scatter", mode: "lines", name: `${run.label}${diverged ? " (diverged)" : ""}`,
      legendgroup: run.label, x: run.step.slice(0, loss.length), y: loss.map(scale.apply),
      customdata: loss, line: { width: 2, color: colour },
      hovertemplate: `${run.label}<br>step %{x}<br>loss %{customdata:.4g}<extra></extra>` });
    if (run.validation_loss) {
      const [held] = finitePrefix(run.validation_loss);
      traces.push({ type: "scatter", mode: "lines", name: `${run.label} held-out`, legendgroup: run.label,
        x: run.step.slice(0, held.length), y: held.map(scale.apply), customdata: held,
        line: { width: 1.5, color: colour, dash: "dash" },
        hovertemplate: `${run.label} held-out<br>step %{x}<br>loss %{customdata:.4g}<extra></extra>` });
    }
    if (diverged && loss.length) {
      ends.x.push(run.step[loss.length - 1]);
      ends.y.push(scale.apply(loss.at(-1)));
      ends.colours.push(colour);
      ends.text.push(`${run.label} diverged` + (run.diverged_at !== null ? ` at step ${run.diverged_at}` : ""));
    }
  });
  if (ends.x.length) {
    traces.push({ type: "scatter", mode: "markers", name: "diverged here", x: ends.x, y: ends.y,
      text: ends.text, hovertemplate: "%{text}<extra></extra>",
      marker: { symbol: "x-thin", size: 14, line: { width: 3, color: ends.colours } } });
  }
  const never = result.runs.filter((r) => !isFiniteNumber(r.loss[0])).map((r) => r.label);
  let caption = never.length ? `No finite loss at all: ${never.join(", ")}. ` : "";
  if (result.runs.length > MAX_CURVES) caption += `The first ${MAX_CURVES} of ${result.runs.length} runs are drawn.`;
  return draw("loss", traces, baseLayout("Loss against step", {
    xaxis: linearAxis("step", { rangemode: "tozero" }), yaxis: logAxis(scale.label("loss"), traces.flatMap((t) => t.y)), height: 480 }),
  caption.trim());
}

/** The runs of a job grouped by the run they were swept from, with the value that varies. */
export function sweepGroups(result) {
  const groups = new Map();
  result.runs.forEach((run, index) => {
    const base = run.label.replace(/\(.*\)( #\d+)?$/, "");
    if (!groups.has(base)) groups.set(base, []);
    groups.get(base).push({ run, index });
  });
  const out = [];
  for (const [name, members] of groups) {
    if (members.length < 2) continue;
    const param = sweptParameter(members.map((m) => m.run));
    if (param) out.push({ name, param, members });
  }
  return out;
}

function sweptParameter(runs) {
  const keys = Object.keys(runs[0].hyperparameters || {});
  const differs = (get) => new Set(runs.map(get)).size > 1;
  return keys.find((k) => differs((r) => r.hyperparameters[k])) || (differs((r) => r.seed) ? "seed" : null);
}

const valueOf = (run, param) => (param === "seed" ? run.seed : run.hyperparameters[param]);

export function drawSweep(result) {
  const groups = sweepGroups(result);
  const figure = document.getElementById("sweep-figure");
  if (!groups.length) {
    figure.hidden = true;
    return clear("sweep");
  }
  figure.hidden = false;
  const finals = result.runs.map((r) => r.final.loss);
  const scale = logScale(finals, result.objective.minimum_value);
  const shownFinite = finals.filter(isFiniteNumber).map(scale.apply).filter((v) => v > 0);
  const ceiling = shownFinite.length ? Math.max(...shownFinite) * 10 : 1;
  const params = [...new Set(groups.map((g) => g.param))];
  const xs = groups.flatMap((g) => g.members.map((m) => valueOf(m.run, g.param)));
  const logX = xs.every((v) => v > 0) && Math.max(...xs) / Math.min(...xs) >= 10;
  const traces = groups.map((g) => {
    const members = [...g.members].sort((a, b) => valueOf(a.run, g.param) - valueOf(b.run, g.param));
    return { type: "scatter", mode: "lines+markers", name: `${g.name} (${g.param})`,
      x: members.map((m) => valueOf(m.run, g.param)),
      y: members.map((m) => (isFiniteNumber(m.run.final.loss) ? scale.apply(m.run.final.loss) : ceiling)),
      text: members.map((m) => (isFiniteNumber(m.run.final.loss) ? formatNumber(m.run.final.loss) : "diverged")),
      line: { color: colourOf(members[0].index), width: 1.5 },
      marker: { size: 10, color: members.map((m) => colourOf(m.index)),
        symbol: members.map((m) => (isFiniteNumber(m.run.final.loss) ? "circle" : "x")) },
      hovertemplate: `${g.name}<br>${g.param} %{x:.4g}<br>final loss %{text}<extra></extra>` };
  });
  const xTitle = params.join(" / ");
  const xaxis = logX ? logAxis(xTitle, xs) : linearAxis(xTitle);
  const diverged = finals.some((v) => !isFiniteNumber(v));
  return draw("sweep", traces, baseLayout(`Final loss against ${xTitle}`, {
    xaxis, yaxis: logAxis(scale.label("final loss"), traces.flatMap((t) => t.y)), height: 420 }),
  diverged ? "✕ at the top: the run diverged (no finite final loss)." : "");
}
