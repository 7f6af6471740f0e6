// The analyst's answer: headline first, then savings per strategy as a chart, the strategy
// table, the actions and the assumptions, all from the structured report; the markdown
// write-up (escaped, see util.markdown) below.
import { esc, usd, pct, markdown, PALETTE } from "./util.js";

function scopeLabel(scope) {
  if (!scope || !scope.length) return "";
  const s = scope[0];
  const where = [s.project, s.feature].filter(Boolean).join("/");
  const model = [s.provider, s.model].filter(Boolean).join(" ");
  const text = where ? `${where} (${model})` : model;
  return scope.length > 1 ? `${text} +${scope.length - 1} more` : text;
}

function headline(r) {
  if (!r || r.no_usage || !r.window) return "No usage data yet";
  if (r.monthly_savings_usd === null || r.monthly_savings_usd === undefined) {
    return `Spend ${usd(r.spend_usd, 2)} — ${r.window.label}`;
  }
  if (!r.strategies.length) return `No savings found — ${r.window.label}`;
  return `Save ${usd(r.monthly_savings_usd, 2)} a month (${pct(r.savings_pct)} of spend)`;
}

export function renderReport(container, message, seq) {
  const r = message.report || null;
  const el = document.createElement("article");
  el.className = "report";
  el.tabIndex = -1;
  if (seq !== undefined) el.dataset.seq = String(seq);
  const id = `report-${Math.random().toString(36).slice(2, 9)}`;
  el.setAttribute("aria-labelledby", id);
  const parts = [`<h2 class="headline" id="${id}">${esc(headline(r))}</h2>`];
  if (r && r.window && !r.no_usage) {
    parts.push(`<p class="lede">Spend <strong>${usd(r.spend_usd, 2)}</strong> over ${esc(r.window.label)},
      ${Number(r.requests).toLocaleString("en-US")} requests;
      monthly run-rate <strong>${usd(r.monthly_run_rate_usd, 2)}</strong>.
      ${r.unpriced_requests ? `${Number(r.unpriced_requests).toLocaleString("en-US")} requests are unpriced.` : ""}</p>`);
  }
  const strategies = (r && r.strategies) || [];
  if (strategies.length) {
    parts.push(`<section aria-label="Savings per strategy"><h3>Savings per strategy (per month)</h3>
      <div class="chart-box small"><canvas class="savings-chart" role="img"
        aria-label="Bar chart of monthly savings per strategy; the table below holds the same figures"></canvas></div></section>`);
    parts.push(`<div class="table-wrap"><table class="responsive strategies"><thead><tr>
      <th scope="col">Strategy</th><th scope="col">Scope</th><th scope="col" class="num">$/month</th>
      <th scope="col" class="num">In window</th><th scope="col" class="num">% of spend</th>
      <th scope="col">Confidence</th><th scope="col">Risk</th></tr></thead><tbody>${strategies.map((s) => `
      <tr data-strategy="${esc(s.id)}"><td data-label="Strategy">${esc(s.title)}</td>
      <td data-label="Scope">${esc(scopeLabel(s.scope))}</td>
      <td data-label="$/month" class="num monthly">${usd(s.monthly_savings_usd, 2)}</td>
      <td data-label="In window" class="num">${usd(s.savings_usd, 2)}</td>
      <td data-label="% of spend" class="num">${pct(s.savings_pct)}</td>
      <td data-label="Confidence">${esc(s.confidence)}</td><td data-label="Risk">${esc(s.risk)}</td></tr>`).join("")}
      </tbody></table></div>`);
  }
  if (r && r.actions && r.actions.length) {
    parts.push(`<h3>Actions</h3><ol class="actions">${r.actions.map((a) => `<li>${esc(a.title)}
      <span class="muted">— effort ${esc(a.effort)}, risk ${esc(a.risk)}, ${usd(a.monthly_savings_usd, 2)}/month</span></li>`).join("")}</ol>`);
  }
  if (r && r.assumptions && r.assumptions.length) {
    parts.push(`<h3>Assumptions</h3><ul class="assumptions">${r.assumptions.map((a) => `<li>${esc(a)}</li>`).join("")}</ul>`);
  }
  parts.push(r ? `<details class="writeup"><summary>Full write-up</summary><div class="md">${markdown(message.content)}</div></details>`
    : `<div class="md">${markdown(message.content)}</div>`);
  el.innerHTML = parts.join("\n");
  container.appendChild(el);
  if (strategies.length && window.Chart) {
    const canvas = el.querySelector(".savings-chart");
    canvas.parentElement.style.height = `${Math.max(140, 36 * strategies.length + 40)}px`;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: strategies.map((s) => s.title),
        datasets: [{ label: "$/month", data: strategies.map((s) => s.monthly_savings_usd),
          backgroundColor: strategies.map((_, i) => PALETTE[i % PALETTE.length]) }],
      },
      options: {
        indexAxis: "y", animation: false, maintainAspectRatio: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: { label: (c) => `${usd(c.parsed.x, 2)} a month` } } },
        scales: { x: { ticks: { callback: (v) => usd(v, 0) } },
          y: { ticks: { callback(v) { const t = this.getLabelForValue(v); return t.length > 22 ? `${t.slice(0, 21)}…` : t; } } } },
      },
    });
  }
  return el;
}
