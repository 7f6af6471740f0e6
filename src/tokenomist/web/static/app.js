// Tokenomist in the browser: a shell with one ES module per page, routed by path (no build
// step; every file here is what the browser runs). Signed out, every path shows sign-in and
// returns to that path afterwards.
import { $, $$, esc } from "./js/util.js";
import * as api from "./js/api.js";
import * as signin from "./js/pages/signin.js";
import * as dashboard from "./js/pages/dashboard.js";
import * as ask from "./js/pages/ask.js";
import * as importer from "./js/pages/import.js";
import * as keys from "./js/pages/keys.js";
import * as budgets from "./js/pages/budgets.js";
import * as alerts from "./js/pages/alerts.js";
import * as channels from "./js/pages/channels.js";
import * as live from "./js/live.js";

const PAGES = {
  "/dashboard": [dashboard, "Dashboard"],
  "/ask": [ask, "Ask"],
  "/import": [importer, "Import"],
  "/api-keys": [keys, "API keys"],
  "/budgets": [budgets, "Budgets"],
  "/alerts": [alerts, "Alerts"],
  "/channels": [channels, "Channels"],
};
let cleanup = null;
let generation = 0;

export function navigate(path, { replace = false, focus = true } = {}) {
  history[replace ? "replaceState" : "pushState"]({}, "", path);
  render(focus);
}

function shell(session) {
  if (session) live.start(); else live.stop();
  $("#nav").hidden = !session;
  $("#sign-out").hidden = !session;
  $("#who").textContent = session ? session.user.email : "";
}

function offline(main, err) {
  document.title = "Server unreachable · Tokenomist";
  main.innerHTML = `<section class="card offline" aria-labelledby="offline-title">
    <h1 id="offline-title">Tokenomist can't be reached</h1>
    <p>The page could not talk to the server: ${esc(err.message)}.</p>
    <p>Check that the server is running and your network is up, then try again.
       Nothing you entered has been lost.</p>
    <button type="button" id="retry">Try again</button></section>`;
  $("#retry").addEventListener("click", () => render(true));
  $("#retry").focus();
}

function failed(main, err) {
  if (err instanceof api.Unreachable) return offline(main, err);
  if (err instanceof api.ApiError && err.status === 401) { api.setSession(null); return; }
  main.insertAdjacentHTML("afterbegin", `<p class="error" role="alert">${esc(err.message)}</p>`);
}

async function render(focus = false) {
  const mine = ++generation;
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  const main = $("#main");
  main.replaceChildren();
  delete main.dataset.loaded; // pages stamp it when drawn (what tests and scripts wait on)
  const session = api.current();
  shell(session);
  let path = location.pathname;
  if (!session) {
    document.title = "Sign in · Tokenomist";
    const next = path === "/" || path === "/sign-in" ? "/dashboard" : path + location.search;
    cleanup = signin.render(main, { next: () => navigate(next, { replace: true }) });
    return;
  }
  if (!PAGES[path]) {
    path = "/dashboard";
    history.replaceState({}, "", path);
  }
  const [page, title] = PAGES[path];
  document.title = `${title} · Tokenomist`;
  $$("#nav a").forEach((a) => a.toggleAttribute("aria-current", a.getAttribute("href") === path));
  if (focus) main.focus();
  const ctx = {
    navigate,
    params: () => new URLSearchParams(location.search),
    setParams: (params) => history.replaceState({}, "", path + api.query(params)),
    fail: (err) => { if (mine === generation) failed(main, err); },
    banner,
  };
  try {
    cleanup = (await page.render(main, ctx)) || null;
  } catch (err) {
    ctx.fail(err);
  }
}

export function banner(text) {
  const el = $("#banner");
  el.textContent = text || "";
  el.hidden = !text;
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || a.target || a.hasAttribute("download")) return;
  if (!(url.pathname in PAGES) && url.pathname !== "/") return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});

$("#sign-out").addEventListener("click", async () => {
  await api.signOut();
});

let signedIn = Boolean(api.current());
api.onSessionChange((session) => {
  // Signing out (or a refresh token refused) from any page lands on sign-in; signing in is
  // handled by the sign-in page's own redirect.
  if (signedIn && !session) { banner(""); navigate("/sign-in", { replace: true }); }
  signedIn = Boolean(session);
});
window.addEventListener("popstate", () => render(true));
render(false);
