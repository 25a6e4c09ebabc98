// The explanations list: search (q, model: asked of the API) and filters (layer, kind, confidence:
// applied to the page of hits), each row linking to its investigation; and a form to explain a subject.

import { api } from "../api.js";
import { fmt, h, replace } from "../dom.js";

const KINDS = ["", "mlp", "attn", "sae", "resid", "numeric", "string", "entity"];

function layerOf(subject) {
  const match = /^L(\d+)\./.exec(subject);
  return match ? Number(match[1]) : null;
}

export async function explanationsPage(main) {
  const error = h("p", { class: "error", role: "alert" });
  const results = h("div", { id: "explanations" });
  const q = h("input", { name: "q", type: "search", placeholder: "label or description contains…" });
  const model = h("input", { name: "model", placeholder: "model (name or folder)" });
  const layer = h("input", { name: "layer", type: "number", min: 0, placeholder: "layer" });
  const kind = h("select", { name: "kind" }, KINDS.map((k) => h("option", { value: k }, k || "any kind")));
  const confidence = h("input", { name: "confidence", type: "number", min: 0, max: 1, step: 0.05, placeholder: "min confidence" });

  async function search(event) {
    if (event) event.preventDefault();
    error.textContent = "";
    const params = new URLSearchParams({ limit: "200" });
    if (q.value.trim()) params.set("q", q.value.trim());
    if (model.value.trim()) params.set("model", model.value.trim());
    let hits;
    try {
      hits = await api(`/explanations?${params}`);
    } catch (e) {
      error.textContent = e.message;
      return;
    }
    const wantLayer = layer.value === "" ? null : Number(layer.value);
    const minConfidence = confidence.value === "" ? null : Number(confidence.value);
    hits = hits.filter(
      (hit) =>
        (wantLayer === null || layerOf(hit.subject) === wantLayer) &&
        (!kind.value || hit.subject_kind === kind.value) &&
        (minConfidence === null || hit.confidence >= minConfidence),
    );
    replace(
      results,
      hits.length === 0
        ? h("p", { class: "muted" }, "no explanations match")
        : h(
            "table",
            { class: "table" },
            h("thead", {}, h("tr", {}, ["subject", "kind", "model", "label", "description", "confidence", ""].map((c) => h("th", {}, c)))),
            h(
              "tbody",
              {},
              hits.map((hit) =>
                h(
                  "tr",
                  { class: "hit" },
                  h("td", { class: "mono" }, hit.subject),
                  h("td", {}, hit.subject_kind),
                  h("td", { class: "mono" }, hit.model ?? "—"),
                  h("td", { class: "label" }, hit.label),
                  h("td", { class: "description" }, hit.description),
                  h("td", {}, fmt(hit.confidence, 2)),
                  h("td", {}, hit.investigation_id ? h("a", { href: `#/investigations/${hit.investigation_id}` }, "investigation") : ""),
                ),
              ),
            ),
          ),
    );
  }

  const subject = h("input", { name: "subject", placeholder: "subject: L6.mlp.35, L6.sae.12 or FILE#ID", required: true });
  const subjectModel = h("input", { name: "subject-model", placeholder: "model (default: the embedded model)" });
  const explainError = h("p", { class: "error", role: "alert" });

  async function explain(event) {
    event.preventDefault();
    explainError.textContent = "";
    const body = { subject: subject.value.trim() };
    if (subjectModel.value.trim()) body.model = subjectModel.value.trim();
    try {
      const started = await api("/investigations", body);
      if (started.id) location.hash = `#/investigations/${started.id}`;
      else location.hash = "#/jobs";
    } catch (e) {
      explainError.textContent = e.message;
    }
  }

  replace(
    main,
    h("h1", {}, "Explanations"),
    h("form", { class: "filters", id: "search-form", onsubmit: search }, q, model, layer, kind, confidence, h("button", { type: "submit" }, "Search")),
    error,
    results,
    h("h2", {}, "Explain a subject"),
    h("form", { class: "filters", id: "explain-form", onsubmit: explain }, subject, subjectModel, h("button", { type: "submit" }, "Investigate")),
    explainError,
  );
  await search();
}
