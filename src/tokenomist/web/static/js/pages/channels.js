// Channels: where alerts go. A webhook gets the event as signed JSON (its signing secret is
// shown once, here); a Slack incoming webhook gets a sentence. Send a test, delete.
import { $, esc } from "../util.js";
import { api } from "../api.js";

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const KIND = { webhook: "Webhook (signed JSON)", slack: "Slack incoming webhook" };

export async function render(main) {
  main.innerHTML = `
    <h1>Alert channels</h1>
    <form id="channel-form" class="card" novalidate>
      <h2>New channel</h2>
      <label>Kind <select name="kind" id="channel-kind">
        <option value="webhook">${KIND.webhook}</option><option value="slack">${KIND.slack}</option></select></label>
      <label>Name <input name="name" maxlength="200" placeholder="on-call webhook"></label>
      <label>URL <input name="url" type="url" required placeholder="https://hooks.example.com/tokenomist"></label>
      <p class="muted small" id="channel-hint">Each request carries <code>X-Tokenomist-Signature: sha256=&lt;HMAC of the body&gt;</code>, keyed with the secret shown after you add it.</p>
      <button type="submit" id="channel-create">Add channel</button>
      <p class="error" id="channel-error" role="alert"></p>
    </form>
    <section id="channel-secret" class="card wide secret" hidden aria-labelledby="channel-secret-title">
      <h2 id="channel-secret-title" tabindex="-1">Copy the signing secret now</h2>
      <p>This is the only time it is shown. Check each request's signature with it.</p>
      <div class="copy-row"><label class="sr-only" for="channel-secret-value">Signing secret</label>
        <input id="channel-secret-value" readonly>
        <button type="button" id="copy-channel-secret">Copy</button></div>
      <p id="channel-copy-status" role="status" class="muted"></p>
    </section>
    <section class="card wide" aria-labelledby="channels-title">
      <h2 id="channels-title" tabindex="-1">Channels of your organisation</h2>
      <p id="channel-test-result" role="status"></p>
      <div id="channel-list"></div>
    </section>`;
  const form = $("#channel-form");
  $("#channel-kind").addEventListener("change", () => {
    $("#channel-hint").hidden = form.kind.value !== "webhook";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#channel-error").textContent = "";
    const url = form.url.value.trim();
    if (!url) { $("#channel-error").textContent = "Give the URL the alerts are posted to."; return; }
    $("#channel-create").disabled = true;
    try {
      const created = await api("/api/v1/alert-channels", {
        method: "POST", json: { kind: form.kind.value, url, name: form.name.value.trim() },
      });
      $("#channel-secret").hidden = !created.secret;
      if (created.secret) {
        $("#channel-secret-value").value = created.secret;
        $("#channel-copy-status").textContent = "";
        $("#channel-secret-title").focus();
      }
      form.reset();
      $("#channel-hint").hidden = false;
      await list();
    } catch (err) {
      $("#channel-error").textContent = err.message;
    } finally {
      $("#channel-create").disabled = false;
    }
  });
  $("#copy-channel-secret").addEventListener("click", async () => {
    const input = $("#channel-secret-value");
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select(); // no clipboard permission (plain http): select it for Ctrl+C
      document.execCommand && document.execCommand("copy");
    }
    $("#channel-copy-status").textContent = "Copied to the clipboard.";
  });
  $("#channel-list").addEventListener("click", async (ev) => {
    const test = ev.target.closest("button[data-test]");
    const del = ev.target.closest("button[data-delete]");
    const out = $("#channel-test-result");
    if (test) {
      test.disabled = true;
      out.textContent = `Sending a test event to ${test.dataset.name}…`;
      out.className = "muted";
      try {
        const r = await api(`/api/v1/alert-channels/${encodeURIComponent(test.dataset.test)}/test`, { method: "POST" });
        out.className = r.delivered ? "ok" : "error";
        out.textContent = r.delivered
          ? `Delivered to ${test.dataset.name} (HTTP ${r.status_code}).`
          : `Not delivered to ${test.dataset.name}: ${r.error}. It will be retried; see Alerts.`;
      } catch (err) {
        out.className = "error";
        out.textContent = err.message;
      } finally {
        test.disabled = false;
      }
    } else if (del) {
      if (!window.confirm(`Delete the channel "${del.dataset.name}"? Budgets stop sending to it.`)) return;
      del.disabled = true;
      try {
        await api(`/api/v1/alert-channels/${encodeURIComponent(del.dataset.delete)}`, { method: "DELETE" });
        out.textContent = "";
        await list();
        $("#channels-title").focus();
      } catch (err) {
        del.disabled = false;
        out.className = "error";
        out.textContent = err.message;
      }
    }
  });
  await list();

  async function list() {
    const { items } = await api("/api/v1/alert-channels");
    $("#channel-list").innerHTML = items.length ? `<div class="table-wrap"><table class="responsive channels"><thead><tr>
      <th scope="col">Name</th><th scope="col">Kind</th><th scope="col">URL</th><th scope="col">Created</th>
      <th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${items.map((c) => `<tr data-channel="${esc(c.id)}">
        <td data-label="Name">${esc(c.name || "—")}</td><td data-label="Kind">${esc(KIND[c.kind] || c.kind)}</td>
        <td data-label="URL" class="url"><code>${esc(c.url)}</code></td><td data-label="Created">${esc(when(c.created_at))}</td>
        <td data-label=""><div class="actions">
          <button type="button" class="secondary" data-test="${esc(c.id)}" data-name="${esc(c.name || c.url)}" aria-label="Send a test to ${esc(c.name || c.url)}">Send test</button>
          <button type="button" class="danger" data-delete="${esc(c.id)}" data-name="${esc(c.name || c.url)}" aria-label="Delete ${esc(c.name || c.url)}">Delete</button>
        </div></td></tr>`).join("")}</tbody></table></div>`
      : `<p class="muted">No channels yet.</p>`;
    main.dataset.loaded = String(Date.now());
  }
}
