// Jobs: start a label job, and every job's progress (GET /jobs, polled) as a bar; audits link to
// their report.

import { api } from "../api.js";
import { h, replace } from "../dom.js";
import { progressBar } from "../plots.js";

const POLL_MS = 1000;

function jobRow(job) {
  return h(
    "tr",
    { class: `job ${job.status}`, id: `job-${job.id}`, "data-status": job.status },
    h("td", {}, String(job.id)),
    h("td", {}, job.kind),
    h("td", {}, h("span", { class: `badge ${job.status}` }, job.status)),
    h("td", { class: "wide" }, progressBar(job.progress)),
    h("td", {}, job.kind === "audit" ? h("a", { href: `#/audits/${job.id}` }, "report") : job.investigation ? h("a", { href: `#/investigations/${job.investigation}` }, "investigation") : ""),
    h("td", { class: "job-error" }, job.error ?? ""),
  );
}

export async function jobsPage(main) {
  let timer = null;
  const table = h("tbody", { id: "jobs" });
  const error = h("p", { class: "error", role: "alert" });
  const field = (name, placeholder, extra = {}) => h("input", { name, placeholder, ...extra });
  const model = field("model", "model (name or folder)", { required: true });
  const layer = field("layer", "layer", { type: "number", min: 0, required: true });
  const units = field("units", "units: 0:8, 3 or 1,4,9", { required: true });
  const budget = field("budget", "tool calls per unit", { type: "number", min: 1, value: 24 });
  const maxTokens = field("max_tokens", "corpus tokens (optional)", { type: "number", min: 1000 });

  async function refresh() {
    try {
      replace(table, (await api("/jobs?limit=100")).map(jobRow));
    } catch (e) {
      error.textContent = e.message;
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  async function submit(event) {
    event.preventDefault();
    error.textContent = "";
    const body = { kind: "label", model: model.value.trim(), layer: Number(layer.value), units: units.value.trim(), budget: Number(budget.value || 24) };
    if (maxTokens.value) body.max_tokens = Number(maxTokens.value);
    try {
      await api("/jobs", body);
    } catch (e) {
      error.textContent = e.message;
      return;
    }
    clearTimeout(timer);
    refresh();
  }

  replace(
    main,
    h("h1", {}, "Jobs"),
    h("h2", {}, "Label neurons"),
    h("form", { class: "filters", id: "label-form", onsubmit: submit }, model, layer, units, budget, maxTokens, h("button", { type: "submit" }, "Start label job")),
    error,
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, ["id", "kind", "status", "progress", "", "error"].map((c) => h("th", {}, c)))), table),
  );
  await refresh();
  return () => clearTimeout(timer);
}
