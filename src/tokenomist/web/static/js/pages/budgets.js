// Budgets: each with a bar of what the period has spent against its amount, the forecast's
// marker and the thresholds; create, edit and delete them. Redrawn when an alert arrives.
import { $, esc, usd } from "../util.js";
import { api, query } from "../api.js";
import { onAlert } from "../live.js";

const DIMS = [["project", "Project"], ["feature", "Feature"], ["model", "Model"],
  ["provider", "Provider"], ["end_user", "End user"]];
const PERIOD_WORD = { day: "daily", week: "weekly", month: "monthly" };
const STATUS_WORD = { ok: "on track", warning: "warning", exceeded: "exceeded",
  forecast_exceeded: "forecast over" };
const pct = (x) => `${Math.round(x * 100)} %`;
const day = (iso) => new Date(iso).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

export async function render(main) {
  main.innerHTML = `
    <h1>Budgets</h1>
    <div class="split">
      <section class="card wide" aria-labelledby="budgets-title">
        <h2 id="budgets-title" tabindex="-1">Budgets of your organisation</h2>
        <div id="budget-list"></div>
      </section>
      <form id="budget-form" class="card" novalidate>
        <h2 id="budget-form-title" tabindex="-1">New budget</h2>
        <label>Name <input name="name" required maxlength="200" placeholder="app monthly"></label>
        <fieldset><legend>Scope <span class="muted">(empty: all spend)</span></legend>
          <div class="scope-grid">${DIMS.map(([k, label]) => `<label>${label}
            <input name="scope-${k}" list="opts-${k}" maxlength="200" autocomplete="off">
            <datalist id="opts-${k}"></datalist></label>`).join("")}</div>
        </fieldset>
        <div class="row3">
          <label>Period <select name="period"><option value="day">Day</option>
            <option value="week">Week</option><option value="month" selected>Month</option></select></label>
          <label>Amount (USD) <input name="amount" type="number" min="0.01" step="0.01" required></label>
          <label>Thresholds (%) <input name="thresholds" value="50, 80, 100" inputmode="decimal"></label>
        </div>
        <label class="inline"><input type="checkbox" name="forecast_alert"> Also alert when the forecast passes the amount</label>
        <fieldset><legend>Send alerts to</legend><div id="budget-channels"></div></fieldset>
        <div class="actions">
          <button type="submit" id="budget-save">Create budget</button>
          <button type="button" class="secondary" id="budget-cancel" hidden>Cancel</button>
        </div>
        <p class="error" id="budget-error" role="alert"></p>
      </form>
    </div>`;
  const form = $("#budget-form");
  let editing = null;
  let items = [];

  const reset = () => {
    editing = null;
    form.reset();
    $("#budget-form-title").textContent = "New budget";
    $("#budget-save").textContent = "Create budget";
    $("#budget-cancel").hidden = true;
  };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#budget-error").textContent = "";
    let body;
    try { body = read(form); } catch (err) { $("#budget-error").textContent = err.message; return; }
    $("#budget-save").disabled = true;
    try {
      if (editing) await api(`/api/v1/budgets/${encodeURIComponent(editing)}`, { method: "PATCH", json: body });
      else await api("/api/v1/budgets", { method: "POST", json: body });
      reset();
      await list();
      $("#budgets-title").focus();
    } catch (err) {
      const where = (err.details || []).map((d) => `${d.field}: ${d.message}`).join("; ");
      $("#budget-error").textContent = where && !err.message.includes(where) ? `${err.message} (${where})` : err.message;
    } finally {
      $("#budget-save").disabled = false;
    }
  });
  $("#budget-cancel").addEventListener("click", reset);

  $("#budget-list").addEventListener("click", async (ev) => {
    const edit = ev.target.closest("button[data-edit]");
    const del = ev.target.closest("button[data-delete]");
    if (edit) {
      const b = items.find((x) => x.id === edit.dataset.edit);
      if (!b) return;
      editing = b.id;
      fill(form, b);
      $("#budget-form-title").textContent = `Edit “${b.name}”`;
      $("#budget-save").textContent = "Save changes";
      $("#budget-cancel").hidden = false;
      $("#budget-form-title").focus();
    } else if (del) {
      if (!window.confirm(`Delete the budget "${del.dataset.name}"? Its alert history stays.`)) return;
      del.disabled = true;
      try {
        await api(`/api/v1/budgets/${encodeURIComponent(del.dataset.delete)}`, { method: "DELETE" });
        if (editing === del.dataset.delete) reset();
        await list();
        $("#budgets-title").focus();
      } catch (err) {
        del.disabled = false;
        $("#budget-error").textContent = err.message;
      }
    }
  });

  async function list() {
    const [budgets, chans] = await Promise.all([api("/api/v1/budgets"), api("/api/v1/alert-channels")]);
    items = budgets.items;
    const names = Object.fromEntries(chans.items.map((c) => [c.id, c.name || c.url]));
    drawChannels(chans.items, editing ? (items.find((b) => b.id === editing) || {}).channel_ids : null);
    $("#budget-list").innerHTML = items.length ? items.map((b) => card(b, names)).join("")
      : `<p class="muted">No budgets yet. Create one with the form: a monthly amount for a project, say, and the channels to tell when it passes 80 %.</p>`;
    main.dataset.loaded = String(Date.now());
  }

  await list();
  options().catch(() => { /* suggestions only */ });
  $("#budgets-title").tabIndex = -1;
  return onAlert(() => { list().catch(() => {}); });
}

function drawChannels(channels, checked) {
  const box = $("#budget-channels");
  const keep = checked || [...box.querySelectorAll("input:checked")].map((c) => c.value);
  box.innerHTML = channels.length ? channels.map((c) => `<label class="inline">
      <input type="checkbox" name="channel" value="${esc(c.id)}"${keep.includes(c.id) ? " checked" : ""}>
      ${esc(c.name || c.url)} <span class="muted">(${esc(c.kind)})</span></label>`).join("")
    : `<p class="muted">No channels yet: <a href="/channels">add a webhook or Slack channel</a> to be told. Alerts are listed under Alerts either way.</p>`;
}

async function options() {
  for (const [dim] of DIMS) {
    const { groups } = await api("/api/v1/usage/summary" + query({ group_by: dim }));
    $(`#opts-${dim}`).innerHTML = groups.map((g) => `<option value="${esc(g.key)}"></option>`).join("");
  }
}

function read(form) {
  const name = form.name.value.trim();
  if (!name) throw new Error("Give the budget a name.");
  const amount = Number(form.amount.value);
  if (!(amount > 0)) throw new Error("The amount must be a positive number of dollars.");
  const thresholds = form.thresholds.value.split(/[\s,;]+/).filter(Boolean).map(Number);
  if (!thresholds.length || thresholds.some((t) => !(t > 0 && t <= 1000))) {
    throw new Error("Thresholds are percentages of the amount, e.g. 50, 80, 100.");
  }
  const scope = {};
  for (const [dim] of DIMS) {
    const v = form[`scope-${dim}`].value.trim();
    if (v) scope[dim] = v;
  }
  return {
    name, scope, period: form.period.value, amount_usd: amount,
    thresholds: thresholds.map((t) => Math.round(t * 1000) / 100000),
    forecast_alert: form.forecast_alert.checked,
    channel_ids: [...form.querySelectorAll("input[name=channel]:checked")].map((c) => c.value),
  };
}

function fill(form, b) {
  form.name.value = b.name;
  for (const [dim] of DIMS) form[`scope-${dim}`].value = b.scope[dim] || "";
  form.period.value = b.period;
  form.amount.value = b.amount_usd;
  form.thresholds.value = b.thresholds.map((t) => Math.round(t * 1000) / 10).join(", ");
  form.forecast_alert.checked = b.forecast_alert;
  form.querySelectorAll("input[name=channel]").forEach((c) => { c.checked = b.channel_ids.includes(c.value); });
}

function card(b, names) {
  const scope = Object.entries(b.scope).map(([k, v]) => `${k.replace("_", " ")} ${v}`).join(", ") || "all spend";
  // The bar's scale reaches the larger of the amount, the spend and the forecast (at most 2×
  // the amount), so a forecast past the amount is drawn past the amount line.
  const scale = Math.min(2 * b.amount_usd, Math.max(b.amount_usd, b.spent_usd, b.forecast_usd));
  const at = (v) => `${Math.min(100, (v / scale) * 100).toFixed(2)}%`;
  const spentShare = b.spent_usd / b.amount_usd;
  const fcShare = b.forecast_usd / b.amount_usd;
  const chans = b.channel_ids.map((id) => names[id]).filter(Boolean);
  return `<article class="budget" data-budget="${esc(b.id)}" data-status="${esc(b.status)}">
    <div class="budget-head"><h3>${esc(b.name)}</h3>
      <span class="status s-${esc(b.status)}">${esc(STATUS_WORD[b.status] || b.status)}</span></div>
    <p class="muted">${esc(scope)} · ${esc(PERIOD_WORD[b.period])} · ${esc(day(b.period_start))} – ${esc(day(new Date(new Date(b.period_end) - 1)))} (UTC)</p>
    <div class="meter" role="img" aria-label="${esc(`Spent ${usd(b.spent_usd, 2)} of ${usd(b.amount_usd, 2)} (${pct(spentShare)}); forecast ${usd(b.forecast_usd, 2)} (${pct(fcShare)})`)}">
      <span class="fill" style="width:${at(b.spent_usd)}"></span>
      ${b.thresholds.filter((t) => t * b.amount_usd <= scale).map((t) => `<span class="tick" style="left:${at(t * b.amount_usd)}" title="${pct(t)}"></span>`).join("")}
      <span class="limit" style="left:${at(b.amount_usd)}" title="amount"></span>
      <span class="forecast" style="left:${at(b.forecast_usd)}" title="forecast ${esc(usd(b.forecast_usd, 2))}"></span>
    </div>
    <p class="legend" aria-hidden="true"><span><span class="key-limit">|</span> amount</span>
      <span><span class="key-forecast">▼</span> forecast${b.forecast_usd > scale ? " (off the bar: past 2× the amount)" : ""}</span>
      <span>thin marks: alert thresholds</span></p>
    <dl class="figures">
      <div><dt>Spent</dt><dd class="spent">${esc(usd(b.spent_usd, 2))} <small>${pct(spentShare)}</small></dd></div>
      <div><dt>Forecast</dt><dd class="forecast-value">${esc(usd(b.forecast_usd, 2))} <small>${pct(fcShare)}</small></dd></div>
      <div><dt>Amount</dt><dd>${esc(usd(b.amount_usd, 2))}</dd></div>
    </dl>
    <p class="muted small">Alerts at ${esc(b.thresholds.map(pct).join(", "))}${b.forecast_alert ? " and on the forecast" : ""}
      → ${chans.length ? esc(chans.join(", ")) : "no channel (listed under Alerts only)"}</p>
    <div class="actions">
      <button type="button" class="secondary" data-edit="${esc(b.id)}" aria-label="Edit ${esc(b.name)}">Edit</button>
      <button type="button" class="danger" data-delete="${esc(b.id)}" data-name="${esc(b.name)}" aria-label="Delete ${esc(b.name)}">Delete</button>
    </div>
  </article>`;
}
