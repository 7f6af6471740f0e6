// Import: upload a usage file (format detected by the server, or chosen), then the server's
// report: accepted, duplicates, rejected, skipped (and why) and each rejected row's error. Plus
// how to send usage continuously (OTLP and the records API).
import { $, esc, int, usd } from "../util.js";
import { api, query } from "../api.js";

export async function render(main) {
  const origin = location.origin;
  main.innerHTML = `
    <h1>Import usage</h1>
    <form id="import-form" class="card">
      <label>Usage file <input type="file" name="file" id="import-file" required></label>
      <label>Format <select name="format" id="import-format"><option value="">Detect automatically</option></select></label>
      <fieldset id="azure-options" hidden><legend>What served this trace</legend>
        <label>Provider <input name="provider" placeholder="openai"></label>
        <label>Model <input name="model" placeholder="gpt-4o"></label>
        <label>Project <input name="project" placeholder="conv"></label>
      </fieldset>
      <button type="submit" id="import-submit">Upload</button>
      <p id="import-status" role="status" class="muted"></p>
    </form>
    <section id="import-result" class="card wide" aria-labelledby="result-title" hidden></section>
    <section class="card wide" aria-labelledby="send-title">
      <h2 id="send-title">Send usage continuously</h2>
      <p>Create an API key with the <code>ingest</code> scope on the <a href="/api-keys">API keys</a> page.</p>
      <h3>OpenTelemetry (GenAI spans)</h3>
      <pre class="snippet" id="otlp-snippet">OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${esc(origin)}/v1/traces
OTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Bearer &lt;API key&gt;"
OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf</pre>
      <h3>Records API</h3>
      <pre class="snippet" id="api-snippet">curl -X POST ${esc(origin)}/api/v1/usage \\
  -H "Authorization: Bearer &lt;API key&gt;" -H "Content-Type: application/x-ndjson" \\
  --data-binary @usage.ndjson</pre>
    </section>`;
  const form = $("#import-form");
  form.format.addEventListener("change", () => {
    $("#azure-options").hidden = form.format.value !== "azure-trace";
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = $("#import-file").files[0];
    if (!file) { $("#import-status").textContent = "Choose a file first."; return; }
    const body = new FormData();
    body.append("file", file);
    const params = { format: form.format.value };
    if (params.format === "azure-trace") {
      Object.assign(params, { provider: form.provider.value, model: form.model.value, project: form.project.value });
    }
    $("#import-submit").disabled = true;
    $("#import-status").textContent = `Uploading ${file.name} (${int(file.size)} bytes)…`;
    try {
      const report = await api(`/api/v1/usage/import${query(params)}`, { method: "POST", body });
      showReport(file.name, report);
      $("#import-status").textContent = "";
    } catch (err) {
      $("#import-status").textContent = "";
      const result = $("#import-result");
      result.hidden = false;
      result.innerHTML = `<h2 id="result-title">${esc(file.name)} was not imported</h2>
        <p class="error" role="alert">${esc(err.message)}</p>`;
    } finally {
      $("#import-submit").disabled = false;
    }
  });
  // Listeners first: a file chosen and submitted before this answer arrives still uploads.
  const formats = await api("/api/v1/usage/formats");
  $("#import-format").insertAdjacentHTML("beforeend", formats.formats.map((f) =>
    `<option value="${esc(f.name)}">${esc(f.name)} — ${esc(f.description)}</option>`).join(""));
}

// Why records were left out without being errors (the import report's ``skipped`` reasons).
const SKIPPED = {
  span_without_genai_usage: "spans without GenAI usage (not LLM calls, or a stream without usage)",
  result_without_requests: "usage results with no requests",
};

function showReport(name, r) {
  const result = $("#import-result");
  result.hidden = false;
  const skipped = Object.entries(r.skipped || {});
  const nSkipped = skipped.reduce((n, [, count]) => n + count, 0);
  const skippedWhy = skipped.length ? `<p id="skipped-reasons" class="muted">Skipped: ${skipped
    .map(([why, count]) => `${esc(SKIPPED[why] || why)}: ${int(count)}`).join("; ")}.</p>` : "";
  const errors = r.errors.length ? `<h3>Rejected rows</h3>
    <div class="table-wrap"><table class="responsive errors"><thead><tr><th scope="col">Row / line</th>
    <th scope="col">Field</th><th scope="col">Problem</th></tr></thead><tbody>${r.errors.map((e) => `
    <tr><td data-label="Row / line">${esc(e.index)}</td><td data-label="Field">${esc(e.field || "–")}</td>
    <td data-label="Problem">${esc(e.message)}</td></tr>`).join("")}</tbody></table></div>
    ${r.errors_truncated ? `<p class="muted">Only the first ${int(r.errors.length)} errors are listed.</p>` : ""}` : "";
  result.innerHTML = `<h2 id="result-title">Imported ${esc(name)}${r.format ? ` as ${esc(r.format)}` : ""}</h2>
    <dl class="counts">
      <div><dt>Accepted</dt><dd id="count-accepted">${int(r.accepted)}</dd></div>
      <div><dt>Duplicates</dt><dd id="count-duplicates">${int(r.duplicates)}</dd></div>
      <div><dt>Rejected</dt><dd id="count-rejected">${int(r.rejected)}</dd></div>
      <div><dt>Skipped</dt><dd id="count-skipped">${int(nSkipped)}</dd></div>
      <div><dt>Unpriced</dt><dd id="count-unpriced">${int(r.unpriced)}</dd></div>
      <div><dt>Spend</dt><dd id="count-cost">${usd(r.cost_usd, 2)}</dd></div>
    </dl>${skippedWhy}${errors}
    <p><a href="/dashboard">See it on the dashboard</a></p>`;
  result.querySelector("h2").setAttribute("tabindex", "-1");
  result.querySelector("h2").focus();
}
