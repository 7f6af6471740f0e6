// Alerts as they happen: one socket for the signed-in tab (besides any run socket of the Ask
// page) that takes the server's org-wide `alert` frames, shows each as a toast, counts the
// unseen ones on the Alerts link, and tells the open page so it can redraw.
import { RunSocket } from "./socket.js";
import { $, esc, usd } from "./util.js";

const listeners = new Set();
const TOAST_MS = 20_000;
let socket = null;
let unseen = 0;

export function onAlert(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function start() {
  if (socket) return;
  socket = new RunSocket({ onEvent: (frame) => { if (frame.type === "alert") received(frame.data); } });
  socket.start();
}

export function stop() {
  if (socket) socket.stop();
  socket = null;
  setUnseen(0);
}

export function seen() { setUnseen(0); }

function setUnseen(n) {
  unseen = n;
  const badge = $("#alert-badge");
  if (!badge) return;
  badge.textContent = n ? String(n) : "";
  badge.hidden = !n;
  badge.setAttribute("aria-label", `${n} new alert${n === 1 ? "" : "s"}`);
}

function received(event) {
  if (location.pathname !== "/alerts") setUnseen(unseen + 1);
  toast(event);
  listeners.forEach((fn) => { try { fn(event); } catch { /* a page's redraw must not stop the rest */ } });
}

const pct = (x) => `${Math.round(x * 100)} %`;

// One sentence per event, the same on the toast and on the Alerts page.
export function describe(event) {
  const d = event.data || {};
  if (event.type === "budget.threshold") {
    return `Budget “${d.budget_name}” passed ${pct(d.threshold)} of ${usd(d.amount_usd, 2)} this ${d.period}: ${usd(d.spent_usd, 2)} spent.`;
  }
  if (event.type === "budget.forecast") {
    return `Budget “${d.budget_name}” is forecast to reach ${usd(d.forecast_usd, 2)} of ${usd(d.amount_usd, 2)} this ${d.period}.`;
  }
  if (event.type === "anomaly.spend") {
    const what = [d.dimension, d.key].filter(Boolean).join(" ");
    return `Spend anomaly${what ? ` on ${what}` : ""}: ${usd(d.actual_usd, 2)} against ${usd(d.expected_usd, 2)} expected.`;
  }
  if (event.type === "channel.test") return "Test event sent to a channel.";
  return event.type;
}

function toast(event) {
  const box = $("#toasts");
  if (!box) return;
  const el = document.createElement("div");
  el.className = "toast";
  el.dataset.event = event.id;
  el.innerHTML = `<p><strong>Alert</strong> ${esc(describe(event))}</p>
    <p><a href="/alerts">See alerts</a> <button type="button" class="link" aria-label="Dismiss">Dismiss</button></p>`;
  el.querySelector("button").addEventListener("click", () => el.remove());
  box.append(el);
  setTimeout(() => el.remove(), TOAST_MS);
}
