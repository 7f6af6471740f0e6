// API keys: create one (its secret shown once, with a copy button), list them with prefix,
// scopes and last use, revoke.
import { $, esc } from "../util.js";
import { api } from "../api.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");

export async function render(main) {
  main.innerHTML = `
    <h1>API keys</h1>
    <form id="key-form" class="card">
      <h2>New key</h2>
      <label>Name <input name="name" required maxlength="200" placeholder="production ingest"></label>
      <fieldset><legend>Scopes</legend>
        <label class="inline"><input type="checkbox" name="scope" value="ingest" checked> ingest (send usage)</label>
        <label class="inline"><input type="checkbox" name="scope" value="read"> read (summaries, MCP)</label>
      </fieldset>
      <button type="submit" id="key-create">Create key</button>
      <p class="error" id="key-error" role="alert"></p>
    </form>
    <section id="key-secret" class="card wide secret" hidden aria-labelledby="secret-title">
      <h2 id="secret-title" tabindex="-1">Copy your new key now</h2>
      <p>This is the only time the whole key is shown; the server keeps only its hash.</p>
      <div class="copy-row"><label class="sr-only" for="secret-value">New API key</label>
        <input id="secret-value" readonly>
        <button type="button" id="copy-secret">Copy</button></div>
      <p id="copy-status" role="status" class="muted"></p>
    </section>
    <section class="card wide" aria-labelledby="keys-title">
      <h2 id="keys-title">Keys of your organisation</h2>
      <div id="key-list"></div>
    </section>`;
  const form = $("#key-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#key-error").textContent = "";
    const scopes = [...form.querySelectorAll("input[name=scope]:checked")].map((c) => c.value);
    if (!form.name.value.trim()) { $("#key-error").textContent = "Give the key a name."; return; }
    if (!scopes.length) { $("#key-error").textContent = "Choose at least one scope."; return; }
    try {
      const created = await api("/api/v1/api-keys", { method: "POST", json: { name: form.name.value.trim(), scopes } });
      $("#key-secret").hidden = false;
      $("#secret-value").value = created.key;
      $("#copy-status").textContent = "";
      $("#secret-title").focus();
      form.reset();
      await list();
    } catch (err) {
      $("#key-error").textContent = err.message;
    }
  });
  $("#copy-secret").addEventListener("click", async () => {
    const input = $("#secret-value");
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select(); // no clipboard permission (plain http): select it for Ctrl+C
      document.execCommand && document.execCommand("copy");
    }
    $("#copy-status").textContent = "Copied to the clipboard.";
  });
  $("#key-list").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-revoke]");
    if (!b) return;
    if (!window.confirm(`Revoke the key "${b.dataset.name}"? Anything using it stops working.`)) return;
    b.disabled = true;
    try {
      await api(`/api/v1/api-keys/${encodeURIComponent(b.dataset.revoke)}`, { method: "DELETE" });
      await list();
      $("#keys-title").focus();
    } catch (err) {
      b.disabled = false;
      $("#key-error").textContent = err.message;
    }
  });
  $("#keys-title").tabIndex = -1;
  await list();
}

async function list() {
  const { items } = await api("/api/v1/api-keys");
  $("#key-list").innerHTML = items.length ? `<div class="table-wrap"><table class="responsive keys"><thead><tr>
    <th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scopes</th>
    <th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th>
    </tr></thead><tbody>${items.map((k) => `<tr data-key="${esc(k.id)}">
    <td data-label="Name">${esc(k.name)}</td><td data-label="Prefix"><code>${esc(k.prefix)}…</code></td>
    <td data-label="Scopes">${esc(k.scopes.join(", "))}</td><td data-label="Created">${esc(when(k.created_at))}</td>
    <td data-label="Last used">${esc(when(k.last_used_at))}</td>
    <td data-label=""><button type="button" class="danger" data-revoke="${esc(k.id)}" data-name="${esc(k.name)}"
      aria-label="Revoke ${esc(k.name)}">Revoke</button></td></tr>`).join("")}</tbody></table></div>`
    : `<p class="muted">No keys yet.</p>`;
}
