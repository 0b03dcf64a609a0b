// CSV data for the regression and classification objectives: inputs, then the target.

export class DataError extends Error {}

/** Rows of numbers from CSV text (commas, semicolons, tabs or spaces); a header is skipped. */
export function parseCsv(text, classification) {
  const rows = [];
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  lines.forEach((line, i) => {
    const cells = line.split(/[,;\t ]+/).filter((c) => c !== "");
    const numbers = cells.map(Number);
    if (numbers.some((v) => !Number.isFinite(v))) {
      if (i === 0) return;  // a header
      throw new DataError(`line ${i + 1}: "${line.slice(0, 40)}" is not all numbers`);
    }
    rows.push(numbers);
  });
  if (rows.length < 2) throw new DataError("needs at least two rows of numbers");
  const width = rows[0].length;
  if (width < 2) throw new DataError("needs at least one input column and a target column");
  const bad = rows.findIndex((r) => r.length !== width);
  if (bad >= 0) throw new DataError(`row ${bad + 1} has ${rows[bad].length} columns, not ${width}`);
  const x = rows.map((r) => r.slice(0, -1));
  const y = rows.map((r) => r[r.length - 1]);
  if (classification && y.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new DataError("class labels in the last column must be integers 0, 1, …");
  }
  return { x, y };
}

/** A small example: a noisy cubic (regression) or two interleaved half-moons (classification). */
export function exampleCsv(classification) {
  const lines = classification ? ["x1,x2,label"] : ["x,y"];
  let seed = 7;
  const noise = () => {
    seed = (seed * 16807) % 2147483647;
    return (seed / 2147483647 - 0.5) * 0.2;
  };
  for (let i = 0; i < 80; i++) {
    const t = (i / 79) * Math.PI;
    if (classification) {
      const label = i % 2;
      const x1 = label ? 1 - Math.cos(t) : Math.cos(t);
      const x2 = label ? 0.5 - Math.sin(t) : Math.sin(t);
      lines.push(`${(x1 + noise()).toFixed(3)},${(x2 + noise()).toFixed(3)},${label}`);
    } else {
      const x = -2 + (4 * i) / 79;
      lines.push(`${x.toFixed(3)},${(x ** 3 / 4 - x + noise()).toFixed(3)}`);
    }
  }
  return lines.join("\n");
}
