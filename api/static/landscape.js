// The landscape charts: paths over the contour (or a plane, or a line) and the 3-D surface.
import { baseLayout, clear, draw, hasWebGL } from "./plot.js";
import { colourOf, equalAspectFits, finitePath, finiteRange, formatNumber, isFiniteNumber,
  landscapeGrid, linearAxis, logAxis, logScale } from "./numeric.js";

const MAX_PATHS = 40;
const PLANES = new Set(["random", "pca"]);
const isGrid = (land) => land && (land.kind === "grid2d" || land.kind === "grid");

/** What the page knows besides the result: the objective's box, variables, and vector-ness. */
export function axesOf(result, context) {
  const land = result.landscape;
  if (land && PLANES.has(land.kind)) {
    const share = land.explained_variance;
    const pc = (i) => `PC ${i + 1}` + (share ? ` (${(100 * share[i]).toFixed(0)}% of variance)` : "");
    return land.kind === "pca" ? [pc(0), pc(1)] : ["α along direction 1", "β along direction 2"];
  }
  const names = context.variables || ["x₁", "x₂"];
  return [names[0], names[1]];
}

/** Whether runs' trajectories are in the coordinates of the drawn plane or box. */
function pathsOnChart(result, context) {
  const land = result.landscape;
  if (!land || isGrid(land)) return result.objective.dimension === 2;
  if (PLANES.has(land.kind)) return !(context.vector && result.objective.dimension <= 3);
  return false;
}

function boxOf(result, context) {
  const land = result.landscape;
  if (land && land.x && land.y) return [[land.x[0], land.x.at(-1)], [land.y[0], land.y.at(-1)]];
  if (context.box) return context.box;
  const points = result.runs.flatMap((r) => r.trajectory || []);
  const xr = finiteRange(points.map((p) => p[0]));
  const yr = finiteRange(points.map((p) => p[1]));
  return xr && yr ? [xr, yr] : null;
}

function pathTraces(result, box, shown) {
  const traces = [];
  const starts = new Map();
  const ends = { x: [], y: [], text: [], colours: [] };
  const finals = { x: [], y: [], text: [], colours: [] };
  shown.forEach((run, i) => {
    if (!run.trajectory?.length || run.trajectory[0].length < 2) return;
    const [path, cut] = finitePath(run.trajectory, box);
    const stopped = cut || run.status === "diverged";
    const colour = colourOf(i);
    const name = `${run.label}${stopped ? " (diverged)" : ""}`;
    traces.push({ type: "scatter", mode: "lines", name, legendgroup: run.label,
      x: path.map((p) => p[0]), y: path.map((p) => p[1]), line: { width: 2, color: colour },
      hovertemplate: `${run.label}<br>(%{x:.4g}, %{y:.4g})<extra></extra>` });
    if (path.length) starts.set(`${path[0][0]},${path[0][1]}`, path[0]);
    if (!stopped && path.length) {
      finals.x.push(path.at(-1)[0]);
      finals.y.push(path.at(-1)[1]);
      finals.colours.push(colour);
      finals.text.push(`${run.label} ended, step ${run.steps}`);
    }
    if (stopped && path.length) {
      const last = path.at(-1);
      ends.x.push(last[0]);
      ends.y.push(last[1]);
      ends.colours.push(colour);
      ends.text.push(`${run.label} diverged` + (run.diverged_at !== null ? ` at step ${run.diverged_at}` : ""));
    }
  });
  if (starts.size) {
    const points = [...starts.values()];
    traces.push({ type: "scatter", mode: "markers", name: "start", x: points.map((p) => p[0]),
      y: points.map((p) => p[1]), marker: { symbol: "circle", size: 11, color: "white",
        line: { width: 2.5, color: "#1d232a" } }, hovertemplate: "start (%{x:.4g}, %{y:.4g})<extra></extra>" });
  }
  if (finals.x.length) {
    traces.push({ type: "scatter", mode: "markers", name: "end", x: finals.x, y: finals.y,
      text: finals.text, hovertemplate: "%{text}<extra></extra>",
      marker: { symbol: "circle", size: 9, color: finals.colours, line: { width: 1.5, color: "white" } } });
  }
  if (ends.x.length) {
    traces.push({ type: "scatter", mode: "markers", name: "diverged here", x: ends.x, y: ends.y,
      text: ends.text, hovertemplate: "%{text}<extra></extra>",
      marker: { symbol: "x-thin", size: 14, line: { width: 3, color: ends.colours } } });
  }
  return traces;
}

function minimaTrace(result) {
  const minima = (result.objective.minima || []).filter((m) => m.length >= 2);
  if (!minima.length) return [];
  return [{ type: "scatter", mode: "markers", name: minima.length > 1 ? "minima" : "minimum",
    x: minima.map((m) => m[0]), y: minima.map((m) => m[1]), hovertemplate: "minimum (%{x:.4g}, %{y:.4g})<extra></extra>",
    marker: { symbol: "star", size: 15, color: "#ffd166", line: { width: 1.2, color: "#1d232a" } } }];
}

function titleOf(land, result) {
  if (!land) return "Paths";
  if (isGrid(land)) return `Paths over ${result.objective.name}`;
  const centre = land.center ? ` through ${land.center.run}'s end` : "";
  return land.kind === "pca" ? `Paths on the PCA plane${centre}` : `Loss on a random plane${centre}`;
}

export function drawContour(result, context) {
  const land = result.landscape;
  if (land && land.kind === "interpolation") return drawLine(land);
  const box = boxOf(result, context);
  const traces = [];
  const [xTitle, yTitle] = axesOf(result, context);
  let caption = "";
  if (land && land.y) {
    const grid = landscapeGrid(land);
    if (grid) {
      traces.push({ type: "contour", x: land.x, y: land.y, z: grid.z, colorscale: "Viridis",
        ncontours: 30, contours: { coloring: "heatmap", showlines: true },
        line: { width: 0.5, color: "rgba(255,255,255,0.35)" },
        colorbar: { title: { text: grid.title, side: "right" }, thickness: 14 },
        hovertemplate: `${xTitle} %{x:.4g}<br>${yTitle} %{y:.4g}<br>${grid.title} %{z:.3g}<extra></extra>`,
        name: "landscape", showlegend: false });
      if (grid.clamped) caption = "Cells where the value overflowed are shown at the largest finite value. ";
    } else {
      caption = "Every value of the landscape overflowed (is its centre run diverged?). ";
    }
  }
  const shown = result.runs.slice(0, MAX_PATHS);
  if (pathsOnChart(result, context)) traces.push(...pathTraces(result, box, shown));
  else if (result.runs.some((r) => r.trajectory)) caption += "Paths are in the objective's own coordinates, not the plane's, so they are not drawn here. ";
  if (isGrid(land) || (!land && result.objective.dimension === 2)) traces.push(...minimaTrace(result));
  if (result.runs.length > MAX_PATHS) caption += `The first ${MAX_PATHS} of ${result.runs.length} runs are drawn. `;
  if (!traces.length) return clear("contour", caption || "No path or landscape to draw: record a landscape.");
  if (isGrid(land) || (!land && box)) caption += "Click the chart to start there next time.";
  const xaxis = linearAxis(xTitle, box ? { range: box[0], constrain: "domain" } : {});
  const yaxis = linearAxis(yTitle, box ? { range: box[1], constrain: "domain" } : {});
  if (box && equalAspectFits(box[0], box[1])) Object.assign(yaxis, { scaleanchor: "x", scaleratio: 1 });
  return draw("contour", traces, baseLayout(titleOf(land, result), { xaxis, yaxis, height: 480 }), caption.trim());
}

function drawLine(land) {
  const scale = logScale(land.log ? [] : land.z);
  const y = land.log ? land.z.map((v) => (isFiniteNumber(v) ? Math.exp(v) : null)) : land.z.map(scale.apply);
  const [xs, ys] = [[], []];
  land.x.forEach((x, i) => {
    if (isFiniteNumber(y[i]) && y[i] > 0) {
      xs.push(x);
      ys.push(y[i]);
    }
  });
  const traces = [{ type: "scatter", mode: "lines", x: xs, y: ys, name: "loss", line: { color: "#0072b2", width: 2.5 } },
    { type: "scatter", mode: "markers", x: [0, 1], y: [0, 1].map((t) => ys[nearest(xs, t)]), name: "start (0) and end (1)",
      marker: { size: 10, color: "white", line: { width: 2.5, color: "#1d232a" } } }];
  return draw("contour", traces, baseLayout(`Loss on the line from ${land.center?.run ?? "the run"}'s start to its end`,
    { xaxis: linearAxis("t  (0: start, 1: end)"), yaxis: logAxis(scale.label("loss"), ys), height: 480 }),
  land.description || "");
}

function nearest(xs, t) {
  let best = 0;
  xs.forEach((x, i) => { if (Math.abs(x - t) < Math.abs(xs[best] - t)) best = i; });
  return best;
}

export function drawSurface(result, context) {
  const land = result.landscape;
  if (!land || !land.y) return clear("surface", land ? "" : "No landscape was recorded for this job.");
  if (!hasWebGL()) return clear("surface", "The 3-D surface needs WebGL, which this browser does not offer.");
  const grid = landscapeGrid(land);
  if (!grid) return clear("surface", "Every value of the landscape overflowed (is its centre run diverged?): nothing to draw.");
  const [xTitle, yTitle] = axesOf(result, context);
  const what = isGrid(land) ? `${result.objective.name} over the box` : titleOf(land, result);
  return draw("surface", [{ type: "surface", x: land.x, y: land.y, z: grid.z, colorscale: "Viridis",
    colorbar: { title: { text: grid.title, side: "right" }, thickness: 14 }, name: "landscape",
    hovertemplate: `${xTitle} %{x:.4g}<br>${yTitle} %{y:.4g}<br>%{z:.3g}<extra></extra>` }],
  baseLayout(`Landscape: ${what}`, { height: 560, scene: { xaxis: { title: { text: xTitle } },
    yaxis: { title: { text: yTitle } }, zaxis: { title: { text: grid.title } },
    aspectmode: "manual", aspectratio: { x: 1, y: 1, z: 0.6 } } }),
  land.center ? `Centred on ${land.center.run} at step ${formatNumber(land.center.step)}.` : "");
}
