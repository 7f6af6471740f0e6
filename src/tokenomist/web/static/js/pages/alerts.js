// Alerts: every event of the org, newest first, with each delivery's status and its attempt
// log (when, HTTP status or error). Redrawn when a new alert arrives.
import { $, esc } from "../util.js";
import { api } from "../api.js";
import { describe, onAlert, seen } from "../live.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

export async function render(main) {
  main.innerHTML = `
    <h1>Alerts</h1>
    <section class="card wide" aria-labelledby="alerts-title">
      <h2 id="alerts-title" tabindex="-1">History</h2>
      <p class="muted">Budget thresholds and forecasts as they fired. A delivery is retried with
        backoff until the channel answers 2xx or the attempts run out.</p>
      <div id="alert-list"></div>
    </section>`;
  seen();
  async function list() {
    const [alerts, chans] = await Promise.all([api("/api/v1/alerts"), api("/api/v1/alert-channels")]);
    const names = Object.fromEntries(chans.items.map((c) => [c.id, c.name || c.url]));
    $("#alert-list").innerHTML = alerts.items.length ? `<div class="table-wrap"><table class="responsive alerts">
      <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">What happened</th>
      <th scope="col">Delivery</th></tr></thead>
      <tbody>${alerts.items.map((a) => row(a, names)).join("")}</tbody></table></div>`
      : `<p class="muted">No alerts yet. They appear here (and as a notice on every page) when a budget passes a threshold.</p>`;
    main.dataset.loaded = String(Date.now());
  }
  await list();
  return onAlert(() => { seen(); list().catch(() => {}); });
}

function row(a, names) {
  const deliveries = a.deliveries.length ? a.deliveries.map((d) => delivery(d, names)).join("")
    : `<span class="muted">no channel</span>`;
  return `<tr data-alert="${esc(a.id)}">
    <td data-label="When">${esc(when(a.created_at))}</td>
    <td data-label="Event"><code>${esc(a.type)}</code></td>
    <td data-label="What happened">${esc(describe(a))}</td>
    <td data-label="Delivery">${deliveries}</td></tr>`;
}

function delivery(d, names) {
  const tries = `${d.attempts} attempt${d.attempts === 1 ? "" : "s"}`;
  const next = d.status === "pending" && d.next_attempt_at ? `; next at ${when(d.next_attempt_at)}` : "";
  const log = d.log.map((x) => `<li>#${x.number} ${esc(when(x.created_at))} —
    ${x.status_code ? `HTTP ${x.status_code}` : ""}${x.error && !(x.error === `HTTP ${x.status_code}`) ? ` ${esc(x.error)}` : ""}</li>`).join("");
  return `<div class="delivery" data-delivery="${esc(d.id)}" data-status="${esc(d.status)}">
    <span class="status s-${esc(d.status)}">${esc(d.status)}</span>
    to ${esc(names[d.channel_id] || "a deleted channel")} <span class="muted">· ${tries}${esc(next)}</span>
    ${d.log.length ? `<details><summary>Attempt log</summary><ol class="attempts">${log}</ol></details>` : ""}
  </div>`;
}
