// Numbers for charts: nothing null or non-finite reaches plotly, log axes that survive
// losses <= 0, one colour per run.

// Okabe-Ito and Tableau hues, readable on white and distinct for most colour-blind readers.
const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
  "#8c564b", "#7f7f7f", "#bcbd22", "#1f3b73", "#b8336a", "#2a9d8f"];

export const colourOf = (index) => PALETTE[index % PALETTE.length];

export const isFiniteNumber = (v) => typeof v === "number" && Number.isFinite(v);

/** The leading finite part of a series: [values, truncated?]. */
export function finitePrefix(values) {
  const cut = values.findIndex((v) => !isFiniteNumber(v));
  return cut < 0 ? [values, false] : [values.slice(0, cut), true];
}

/** Rows (points) up to the first with a non-finite coordinate or one far outside the box. */
export function finitePath(rows, box) {
  const out = [];
  for (const row of rows) {
    if (!row || !row.every(isFiniteNumber)) return [out, true];
    if (box && row.some((v, i) => i < 2 && outside(v, box[i]))) return [out, true];
    out.push(row);
  }
  return [out, false];
}

function outside(v, [lo, hi]) {
  const span = hi - lo;
  return v < lo - 2 * span || v > hi + 2 * span;
}

export function finiteRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (isFiniteNumber(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * How to show values on a log axis. Positive values are shown as they are; when any is <= 0
 * the chart shows value - min + eps instead, and says so in its title.
 */
export function logScale(values, knownMinimum = null) {
  const range = finiteRange(values);
  if (!range) return { shift: 0, eps: 0, label: (name) => name, apply: (v) => v };
  let [lo, hi] = range;
  if (lo > 0) return { shift: 0, eps: 0, label: (name) => name, apply: (v) => v };
  if (isFiniteNumber(knownMinimum) && knownMinimum < lo) lo = knownMinimum;
  const eps = Math.max(Math.abs(hi - lo) * 1e-9, 1e-12);
  const shown = formatNumber(lo);
  return {
    shift: lo,
    eps,
    label: (name) => `${name} − min + ε  (min = ${shown}, ε = ${formatNumber(eps)})`,
    apply: (v) => (isFiniteNumber(v) ? v - lo + eps : v),
  };
}

export function formatNumber(v) {
  if (!isFiniteNumber(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** Plotly axis settings: ticks as 10ⁿ on a log axis. */
export function logAxis(title, values = []) {
  const range = finiteRange(values.filter((v) => v > 0));
  const decades = range ? Math.log10(range[1] / range[0]) : 0;
  const axis = { type: "log", title: { text: title }, exponentformat: "power", showexponent: "all",
    automargin: true };
  if (decades >= 2) axis.dtick = Math.max(1, Math.ceil(decades / 8));  // whole decades: 10ⁿ
  return axis;
}

export function linearAxis(title, extra = {}) {
  return { title: { text: title }, exponentformat: "power", automargin: true, ...extra };
}

/**
 * A landscape's z as a finite grid to colour: log10 of the value (or of value - min + eps when
 * the grid reaches 0 or below). Non-finite cells take the largest finite value, and cells below
 * the 1st percentile take that percentile, so that one cell next to a minimum (1e-12) does not
 * spend the whole colour scale.
 */
export function landscapeGrid(land) {
  const flat = land.z.flat();
  const range = finiteRange(flat);
  if (!range) return null;
  let transform;
  let title;
  if (land.log) {  // the server stored natural logs
    transform = (v) => v / Math.LN10;
    title = "log₁₀ value";
  } else if (range[0] > 0) {
    transform = Math.log10;
    title = "log₁₀ value";
  } else {
    const eps = Math.max((range[1] - range[0]) * 1e-6, 1e-12);
    transform = (v) => Math.log10(v - range[0] + eps);
    title = `log₁₀(value − min + ε), min = ${formatNumber(range[0])}`;
  }
  const shown = flat.filter(isFiniteNumber).map(transform).sort((a, b) => a - b);
  const floor = shown[Math.floor(0.01 * (shown.length - 1))];
  const ceiling = shown.at(-1);
  const z = land.z.map((row) => row.map((v) => (isFiniteNumber(v) ? Math.max(transform(v), floor) : ceiling)));
  return { z, title, clamped: flat.some((v) => !isFiniteNumber(v)) };
}

export function equalAspectFits(xr, yr) {
  const ratio = (xr[1] - xr[0]) / (yr[1] - yr[0]);
  return ratio > 0.1 && ratio < 10;
}
