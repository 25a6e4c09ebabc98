// One investigation: its explanation, hypotheses with the evidence for and against, the transcript
// (each experiment's arguments and result, drawn: highlighted tokens, histograms, heatmaps), and a chat
// panel on its thread (POST /chat/{id}, the agent's steps streamed as server-sent events).

import { api, stream } from "../api.js";
import { fmt, h, replace } from "../dom.js";
import { heatmap, histogram, tokens } from "../plots.js";

const POLL_MS = 1500;

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

function contexts(list, scale) {
  return h(
    "ol",
    { class: "contexts" },
    list.map((e) => h("li", {}, h("span", { class: "peak" }, fmt(e.max)), tokens(e.tokens, e.activations, scale))),
  );
}

function columnLabels(result) {
  return result.positions.map((p) => {
    if (result.column_kind === "head") return `h${p}`;
    if (result.column_kind === "latent") return `latent ${p}`;
    return `${result.tokens[p] ?? ""} (${p})`;
  });
}

/** What an experiment's result looks like drawn, by tool; anything else as JSON. */
function drawResult(tool, summary) {
  if (!summary || typeof summary !== "object") return json(summary);
  if (summary.ok === false) return h("p", { class: "error" }, String(summary.error ?? "failed"));
  const result = summary.result ?? summary;
  if (tool === "activations" && Array.isArray(result.results)) {
    const scale = Math.max(1e-9, ...result.results.flatMap((r) => r.activations.map((a) => Math.abs(a))));
    return h(
      "div",
      { class: "drawn" },
      result.results.map((r) => h("div", { class: "text-row" }, h("span", { class: "peak" }, fmt(r.max)), tokens(r.tokens, r.activations, scale))),
    );
  }
  if (tool === "exemplars" && Array.isArray(result.exemplars)) {
    const stats = result.stats || {};
    return h(
      "div",
      { class: "drawn" },
      stats.histogram ? histogram(stats.histogram, { title: `${result.unit} activations` }) : null,
      h("p", { class: "muted" }, `max ${fmt(stats.max)} · mean ${fmt(stats.mean)} · std ${fmt(stats.std)} · firing ${fmt(100 * (stats.frac_firing ?? 0))}% of ${stats.count ?? "?"} tokens`),
      h("h4", {}, "top contexts"),
      contexts(result.exemplars, Math.max(1e-9, stats.max ?? 0)),
    );
  }
  if (Array.isArray(result.scores) && Array.isArray(result.layers)) {
    return h("div", { class: "drawn" }, heatmap(result.layers.map((l) => `L${l}`), columnLabels(result), result.scores, { title: `${result.method ?? "patching"} (${result.site ?? ""})` }));
  }
  return h("details", {}, h("summary", {}, "result"), json(result));
}

function experimentCard(e, index) {
  return h(
    "article",
    { class: "experiment", id: `exp-${e.id}` },
    h("h3", {}, `#${index + 1} `, h("span", { class: "mono" }, e.tool), h("span", { class: "muted" }, ` · ${fmt(e.seconds, 2)} s`)),
    h("details", { class: "args" }, h("summary", {}, "arguments"), json(e.args)),
    drawResult(e.tool, e.result_summary),
  );
}

function jump(id) {
  return h("button", { type: "button", class: "link", onclick: () => document.getElementById(`exp-${id}`)?.scrollIntoView() }, `experiment ${id}`);
}

function hypothesisCard(hyp, evidence) {
  const mine = evidence.filter((e) => e.hypothesis_id === hyp.id);
  const side = (supports) =>
    h(
      "ul",
      { class: supports ? "for" : "against" },
      mine.filter((e) => e.supports === supports).map((e) => h("li", {}, jump(e.experiment_id), ` (weight ${fmt(e.weight, 2)}) `, e.note ?? "")),
    );
  return h(
    "article",
    { class: `hypothesis ${hyp.status}` },
    h("p", {}, h("span", { class: `badge ${hyp.status}` }, hyp.status), " ", hyp.text, hyp.confidence !== null ? h("span", { class: "muted" }, ` · confidence ${fmt(hyp.confidence, 2)}`) : null),
    h("div", { class: "evidence" }, h("div", {}, h("h4", {}, "for"), side(true)), h("div", {}, h("h4", {}, "against"), side(false))),
  );
}

function explanationCard(explanation, scores) {
  if (!explanation) return h("p", { class: "muted" }, "no explanation yet");
  return h(
    "section",
    { class: "explanation" },
    h("h2", {}, "Explanation"),
    h("p", { class: "label", id: "explanation-label" }, explanation.label),
    h("p", { class: "description" }, explanation.description),
    h("p", { class: "muted" }, `confidence ${fmt(explanation.confidence, 2)}`, Object.entries(scores || {}).map(([k, v]) => ` · ${k} ${fmt(v)}`)),
  );
}

function recordView(record) {
  const inv = record.investigation;
  const budget = inv.budget || {};
  return h(
    "div",
    { id: "record", "data-status": inv.status },
    h("p", {}, h("span", { class: `badge ${inv.status}`, id: "status" }, inv.status), ` ${inv.backend} · ${inv.tool_calls} of ${budget.tool_calls ?? "?"} tool calls · ${fmt(inv.seconds, 2)} s`),
    explanationCard(record.explanation, record.scores),
    h("h2", {}, "Hypotheses"),
    record.hypotheses.length ? record.hypotheses.map((hyp) => hypothesisCard(hyp, record.evidence)) : h("p", { class: "muted" }, "none"),
    h("h2", {}, "Transcript"),
    h("div", { id: "transcript" }, record.experiments.map(experimentCard)),
  );
}

function chatPanel(id) {
  const log = h("div", { id: "chat-log", class: "chat-log", "aria-live": "polite" });
  const input = h("textarea", { id: "chat-input", rows: 2, placeholder: "Ask the agent about this unit…", required: true });
  const button = h("button", { type: "submit" }, "Send");
  async function send(event) {
    event.preventDefault();
    const message = input.value.trim();
    if (!message) return;
    input.value = "";
    button.disabled = true;
    log.append(h("div", { class: "bubble user" }, message));
    const steps = h("ul", { class: "steps" });
    log.append(steps);
    try {
      await stream(`/chat/${id}`, { message }, (name, data) => {
        if (name === "step") {
          const { step, ...rest } = data;
          steps.append(h("li", {}, h("span", { class: "mono" }, step), " ", JSON.stringify(rest).slice(0, 200)));
        } else if (name === "reply") log.append(h("div", { class: "bubble reply" }, data.text));
        else if (name === "error") log.append(h("p", { class: "error" }, data.detail));
      });
    } catch (e) {
      log.append(h("p", { class: "error" }, e.message));
    } finally {
      button.disabled = false;
    }
  }
  return h("aside", { class: "chat" }, h("h2", {}, "Chat"), log, h("form", { id: "chat-form", onsubmit: send }, input, button));
}

export async function investigationPage(main, id) {
  let timer = null;
  let record;
  try {
    record = await api(`/investigations/${id}`);
  } catch (e) {
    replace(main, h("p", { class: "error" }, e.message));
    return null;
  }
  const holder = h("div", {}, recordView(record));
  replace(
    main,
    h("h1", {}, `Investigation ${id} `, h("span", { class: "mono" }, record.subject ?? "")),
    h("div", { class: "investigation" }, holder, chatPanel(id)),
  );
  async function poll() {
    try {
      record = await api(`/investigations/${id}`);
      replace(holder, recordView(record));
    } catch (_) {
      /* keep what is shown; the next look may work */
    }
    if (record.investigation.status === "running") timer = setTimeout(poll, POLL_MS);
  }
  if (record.investigation.status === "running") timer = setTimeout(poll, POLL_MS);
  return () => clearTimeout(timer);
}
