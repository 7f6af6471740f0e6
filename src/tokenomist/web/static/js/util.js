// Small shared helpers: escaping, number formats, safe markdown, element lookup.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

// Every piece of text that reaches innerHTML goes through this first.
export function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export function usd(value, digits) {
  if (value === null || value === undefined) return "unpriced";
  const abs = Math.abs(value);
  const d = digits ?? (abs >= 100 ? 0 : abs >= 1 ? 2 : 4);
  return "$" + Number(value).toLocaleString("en-US", {
    minimumFractionDigits: d, maximumFractionDigits: d,
  });
}

export const int = (value) => Number(value || 0).toLocaleString("en-US");

export function compact(value) {
  return Number(value || 0).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 });
}

export function pct(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(1)} %`;
}

export function duration(ms) {
  if (ms === null || ms === undefined) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function html(strings, ...values) {
  // Tagged template: interpolated values are escaped unless wrapped with raw().
  return strings.reduce((out, s, i) => {
    const v = i < values.length ? values[i] : "";
    const text = v && v.__raw !== undefined ? v.__raw
      : Array.isArray(v) ? v.map((x) => (x && x.__raw !== undefined ? x.__raw : esc(x))).join("")
        : esc(v);
    return out + s + (i < values.length ? text : "");
  }, "");
}

export const raw = (text) => ({ __raw: String(text) });

// Markdown subset (headings, tables, lists, bold, code, paragraphs). Safe by construction:
// each line is escaped first and only the tags produced here are ever added.
export function markdown(md) {
  const out = [];
  const lines = String(md || "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*\|/.test(line)) {
      const rows = [];
      while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(lines[i++]);
      i--;
      out.push(mdTable(rows));
    } else if (/^#{1,4} /.test(line)) {
      const level = Math.min(line.match(/^#+/)[0].length + 2, 6);
      out.push(`<h${level}>${inline(line.replace(/^#+ /, ""))}</h${level}>`);
    } else if (/^\s*([-*]|\d+\.) /.test(line)) {
      const ordered = /^\s*\d+\. /.test(line);
      const marker = ordered ? /^\s*\d+\. / : /^\s*[-*] /;
      const items = [];
      while (i < lines.length && marker.test(lines[i])) items.push(lines[i++].replace(marker, ""));
      i--;
      const tag = ordered ? "ol" : "ul";
      out.push(`<${tag}>${items.map((it) => `<li>${inline(it)}</li>`).join("")}</${tag}>`);
    } else if (line.trim()) {
      out.push(`<p>${inline(line)}</p>`);
    }
  }
  return out.join("\n");
}

function mdTable(rows) {
  const cells = (r) => r.trim().replace(/^\||\|$/g, "").split("|").map((c) => inline(c.trim()));
  const body = rows.filter((r) => !/^\s*\|[\s:|-]+\|\s*$/.test(r));
  const [head, ...rest] = body;
  const names = cells(head);
  const row = (r) => "<tr>" + cells(r).map((c, j) =>
    `<td data-label="${(names[j] || "").replace(/<[^>]+>/g, "")}">${c}</td>`).join("") + "</tr>";
  return `<div class="table-wrap"><table class="responsive"><thead><tr>${names.map((c) =>
    `<th scope="col">${c}</th>`).join("")}</tr></thead><tbody>${rest.map(row).join("")}</tbody></table></div>`;
}

function inline(text) {
  return esc(text)
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/`(.+?)`/g, "<code>$1</code>");
}

// Stable colours for chart series, readable on white.
export const PALETTE = ["#2f6fed", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4",
  "#bf9000", "#525df4", "#6c8893", "#d13b3b"];
export const OTHER_COLOUR = "#b9bec8";
