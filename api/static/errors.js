// Errors next to their field: "runs[2].hyperparameters.learning_rate" goes under nesterov.

const RUN_FIELD = /^runs\[(\d+)\]\.?(.*)$/;

export function clearErrors() {
  for (const el of document.querySelectorAll(".field-error")) {
    el.textContent = "";
    el.closest(".optimizer")?.classList.remove("invalid");
  }
}

function slotFor(field) {
  let best = null;
  for (const el of document.querySelectorAll(".field-error[data-for]")) {
    const f = el.dataset.for;
    const matches = f === "" || field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`);
    if (matches && (!best || f.length > best.dataset.for.length)) best = el;
  }
  return best;
}

function append(slot, text) {
  slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
}

/** Show a problem document's errors; `rows[i]` is the optimizer row of runs[i]. */
export function showErrors(problem, rows = []) {
  clearErrors();
  const items = problem.errors?.length ? problem.errors : [{ field: "", message: problem.detail || problem.title || "refused" }];
  let first = null;
  for (const { field = "", message } of items) {
    const run = RUN_FIELD.exec(field);
    let slot;
    let text;
    if (run && rows[Number(run[1])]) {
      const row = rows[Number(run[1])];
      slot = row.querySelector(".run-error");
      row.classList.add("invalid");
      text = `${row.dataset.name}${run[2] ? ` ${run[2]}` : ""}: ${message}`;
    } else {
      slot = slotFor(field);
      text = field && field !== slot.dataset.for ? `${field}: ${message}` : message;
    }
    append(slot, text);
    slot.closest("details")?.setAttribute("open", "");
    first = first || slot;
  }
  first?.scrollIntoView({ block: "center", behavior: "smooth" });
  return items.length;
}
