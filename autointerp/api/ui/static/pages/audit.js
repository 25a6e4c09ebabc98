// An audit job's report (GET /jobs/{id}/report): the shift plot and the changed units with their
// baseline and candidate labels, then every unit's numbers.

import { api } from "../api.js";
import { fmt, h, replace } from "../dom.js";
import { shiftPlot } from "../plots.js";

export async function auditPage(main, id) {
  let report;
  try {
    report = await api(`/jobs/${id}/report`);
  } catch (e) {
    replace(main, h("h1", {}, `Audit ${id}`), h("p", { class: "error" }, e.message));
    return null;
  }
  const changed = report.units.filter((u) => u.changed);
  replace(
    main,
    h("h1", {}, `Audit ${id}: `, h("span", { class: "mono" }, report.model)),
    h("p", {}, "baseline ", h("span", { class: "mono" }, report.baseline), " → candidate ", h("span", { class: "mono" }, report.candidate)),
    shiftPlot(report),
    h("h2", {}, `Changed units (${changed.length})`),
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, ["unit", "why", "baseline label", "candidate label"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        changed.map((u) =>
          h(
            "tr",
            {},
            h("td", { class: "mono" }, u.unit),
            h("td", {}, u.reasons.join("; ")),
            h("td", {}, u.baseline_label ?? "—"),
            h("td", {}, u.candidate_label ?? "(not re-explained)", u.candidate_investigation ? [" ", h("a", { href: `#/investigations/${u.candidate_investigation}` }, "investigation")] : []),
          ),
        ),
      ),
    ),
    h("h2", {}, "All units"),
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, ["unit", "changed", "mean b → c", "max b → c", "mean shift", "Jaccard"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        report.units.map((u) =>
          h(
            "tr",
            {},
            h("td", { class: "mono" }, u.unit),
            h("td", {}, u.changed ? "yes" : "no"),
            h("td", {}, `${fmt(u.baseline.mean)} → ${fmt(u.candidate.mean)}`),
            h("td", {}, `${fmt(u.baseline.max)} → ${fmt(u.candidate.max)}`),
            h("td", {}, fmt(u.mean_shift)),
            h("td", {}, fmt(u.jaccard, 2)),
          ),
        ),
      ),
    ),
  );
  return null;
}
