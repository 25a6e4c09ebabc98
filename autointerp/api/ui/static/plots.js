// Figures drawn as SVG from the JSON results: an activation histogram, highlighted tokens, a patching
// heatmap, the audit's shift plot and progress bars. Labels go in as text nodes (see dom.js).

import { fmt, h, s } from "./dom.js";

const POSITIVE = [221, 110, 30];
const NEGATIVE = [45, 105, 190];

function tint(value, scale) {
  const strength = Math.min(1, Math.abs(value) / (scale || 1));
  const [r, g, b] = value >= 0 ? POSITIVE : NEGATIVE;
  return `rgba(${r}, ${g}, ${b}, ${(0.08 + 0.8 * strength).toFixed(3)})`;
}

/** A histogram of {low, high, counts} (bar heights on a log scale), with the axis range labelled. */
export function histogram(hist, { width = 420, height = 150, title = "activation histogram" } = {}) {
  const counts = hist.counts || [];
  const pad = 24;
  const top = Math.max(1, ...counts.map((c) => Math.log1p(c)));
  const barWidth = (width - 2 * pad) / Math.max(1, counts.length);
  const step = (hist.high - hist.low) / Math.max(1, counts.length);
  const bars = counts.map((c, i) => {
    const barHeight = ((height - 2 * pad) * Math.log1p(c)) / top;
    const centre = hist.low + (i + 0.5) * step;
    return s(
      "rect",
      {
        x: (pad + i * barWidth).toFixed(2),
        y: (height - pad - barHeight).toFixed(2),
        width: Math.max(0.5, barWidth - 0.5).toFixed(2),
        height: barHeight.toFixed(2),
        fill: centre >= 0 ? "rgb(221, 110, 30)" : "rgb(45, 105, 190)",
        class: "bar",
      },
      s("title", {}, `${fmt(centre)}: ${c}`),
    );
  });
  return s(
    "svg",
    { class: "plot histogram", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title },
    s("text", { x: pad, y: 14, class: "plot-title" }, `${title} (log count)`),
    s("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
    bars,
    s("text", { x: pad, y: height - 6, class: "tick" }, fmt(hist.low)),
    s("text", { x: width / 2, y: height - 6, class: "tick", "text-anchor": "middle" }, "0"),
    s("text", { x: width - pad, y: height - 6, class: "tick", "text-anchor": "end" }, fmt(hist.high)),
  );
}

function shown(token) {
  return token.replaceAll("\n", "↵").replaceAll("\t", "⇥");
}

/** Tokens as text, each tinted by its activation (orange positive, blue negative), value on hover. */
export function tokens(tokenList, activations, scale) {
  const peak = scale || Math.max(1e-9, ...activations.map((a) => Math.abs(a)));
  return h(
    "div",
    { class: "tokens" },
    tokenList.map((token, i) =>
      h("span", { class: "tok", title: fmt(activations[i] ?? 0, 4), style: { backgroundColor: tint(activations[i] ?? 0, peak) } }, shown(token)),
    ),
  );
}

/** A heatmap of rows × columns of scores (a patching result), coloured around 0. */
export function heatmap(rowLabels, columnLabels, scores, { cell = 26, title = "patching" } = {}) {
  const left = 60;
  const topPad = 70;
  const peak = Math.max(1e-9, ...scores.flat().map((v) => Math.abs(v)));
  const width = left + cell * columnLabels.length + 10;
  const height = topPad + cell * rowLabels.length + 10;
  const cells = [];
  scores.forEach((row, i) =>
    row.forEach((value, j) =>
      cells.push(
        s(
          "rect",
          { x: left + j * cell, y: topPad + i * cell, width: cell - 1, height: cell - 1, fill: tint(value, peak), class: "cell" },
          s("title", {}, `${rowLabels[i]} × ${columnLabels[j]}: ${fmt(value)}`),
        ),
      ),
    ),
  );
  return s(
    "svg",
    { class: "plot heatmap", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title },
    s("text", { x: 4, y: 14, class: "plot-title" }, title),
    rowLabels.map((label, i) => s("text", { x: left - 4, y: topPad + i * cell + cell * 0.65, class: "tick", "text-anchor": "end" }, label)),
    columnLabels.map((label, j) =>
      s("text", { x: left + j * cell + cell / 2, y: topPad - 4, class: "tick", transform: `rotate(-50 ${left + j * cell + cell / 2} ${topPad - 4})` }, label),
    ),
    cells,
  );
}

/** The audit's shift plot: mean shift (x) against exemplar Jaccard (y), thresholds dashed, changed red. */
export function shiftPlot(report, { width = 520, height = 320 } = {}) {
  const pad = 40;
  const maxX = Math.max(report.tau * 1.5, ...report.units.map((u) => u.mean_shift), 1e-6);
  const x = (v) => pad + ((width - 2 * pad) * v) / maxX;
  const y = (v) => height - pad - (height - 2 * pad) * v;
  return s(
    "svg",
    { class: "plot shift", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "shift plot" },
    s("text", { x: pad, y: 16, class: "plot-title" }, `${report.changed.length} of ${report.units.length} units changed (${report.rule})`),
    s("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
    s("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis" }),
    s("line", { x1: x(report.tau), y1: pad, x2: x(report.tau), y2: height - pad, class: "threshold" }),
    s("line", { x1: pad, y1: y(report.jaccard_min), x2: width - pad, y2: y(report.jaccard_min), class: "threshold" }),
    report.units.map((u) =>
      s(
        "circle",
        { cx: x(u.mean_shift).toFixed(2), cy: y(u.jaccard).toFixed(2), r: 5, class: u.changed ? "dot changed" : "dot" },
        s("title", {}, `${u.unit}: shift ${fmt(u.mean_shift)}, Jaccard ${fmt(u.jaccard)}`),
      ),
    ),
    report.units.length <= 40 ? report.units.map((u) => s("text", { x: x(u.mean_shift) + 6, y: y(u.jaccard) - 6, class: "tick" }, u.unit)) : [],
    s("text", { x: width / 2, y: height - 8, class: "tick", "text-anchor": "middle" }, "|Δmean| / baseline std"),
    s("text", { x: 12, y: height / 2, class: "tick", transform: `rotate(-90 12 ${height / 2})`, "text-anchor": "middle" }, "top-k Jaccard"),
  );
}

/** A progress bar for {done, total}; ``total`` null draws an empty bar marked "?". */
export function progressBar(progress) {
  const total = progress.total;
  const percent = total ? Math.round((100 * progress.done) / total) : 0;
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": percent, "data-percent": percent },
    h("div", { class: "progress-bar", style: { width: `${percent}%` } }),
    h("span", { class: "progress-text" }, total ? `${progress.done} / ${total} (${percent}%)` : `${progress.done} / ?`),
  );
}
