// Dashboard: the period and filters live in the URL (a link reproduces the view); every figure
// is read from the usage API as is (totals from /summary, the chart from /series, the lists
// from /summary?group_by= and /models), never recomputed from rounded numbers.
import { $, $$, esc, html, raw, usd, int, compact, PALETTE, OTHER_COLOUR } from "../util.js";
import { api, query, ApiError } from "../api.js";

const DIMENSIONS = [
  ["project", "Project"], ["feature", "Feature"], ["model", "Model"],
  ["provider", "Provider"], ["end_user", "End user"],
];
const RANGES = [["all", "All data"], ["7d", "Last 7 days"], ["30d", "Last 30 days"],
  ["90d", "Last 90 days"], ["custom", "Custom dates"]];
const DAY = 86_400_000;

// URL → view state. Dates in the URL are whole UTC days, `to` inclusive.
function state(params) {
  const filters = {};
  for (const [dim] of DIMENSIONS) filters[dim] = params.getAll(dim);
  const from = params.get("from") || "";
  const to = params.get("to") || "";
  const range = params.get("range") || (from || to ? "custom" : "all");
  return { range, from, to, filters, by: params.get("by") || "model",
    interval: params.get("interval") || "auto" };
}

function windowOf(s) {
  if (s.range === "custom") {
    return {
      from: s.from ? `${s.from}T00:00:00Z` : undefined,
      to: s.to ? new Date(Date.parse(`${s.to}T00:00:00Z`) + DAY).toISOString().replace(".000", "") : undefined,
    };
  }
  const days = parseInt(s.range, 10);
  if (!days) return {};
  const end = new Date(Math.floor(Date.now() / DAY) * DAY + DAY);
  return { from: new Date(end - days * DAY).toISOString().replace(".000", ""),
    to: end.toISOString().replace(".000", "") };
}

function toParams(s) {
  const p = { range: s.range === "all" ? undefined : s.range, by: s.by === "model" ? undefined : s.by,
    interval: s.interval === "auto" ? undefined : s.interval };
  if (s.range === "custom") { p.from = s.from; p.to = s.to; }
  for (const [dim] of DIMENSIONS) p[dim] = s.filters[dim];
  return p;
}

function intervalFor(s, win) {
  if (s.interval !== "auto") return s.interval;
  if (!win.from || !win.to) return "day";
  const days = (Date.parse(win.to) - Date.parse(win.from)) / DAY;
  return days <= 3 ? "hour" : days <= 120 ? "day" : "week";
}

export async function render(main, ctx) {
  let s = state(ctx.params());
  main.innerHTML = html`
    <h1>Dashboard</h1>
    <form id="filters" class="filters" aria-label="Period and filters">
      <label>Period <select name="range">${raw(RANGES.map(([v, t]) =>
        `<option value="${v}">${t}</option>`).join(""))}</select></label>
      <label class="date">From <input type="date" name="from"></label>
      <label class="date">To <input type="date" name="to"></label>
      ${raw(DIMENSIONS.map(([dim, label]) =>
        `<label>${label} <select name="${dim}" data-filter><option value="">All</option></select></label>`).join(""))}
      <label>Stack by <select name="by">${raw(DIMENSIONS.map(([d, l]) =>
        `<option value="${d}">${l}</option>`).join(""))}</select></label>
      <label>Interval <select name="interval"><option value="auto">Auto</option>
        <option value="hour">Hour</option><option value="day">Day</option>
        <option value="week">Week</option></select></label>
      <button type="button" class="secondary" id="clear-filters">Clear filters</button>
    </form>
    <p id="dash-status" class="muted" role="status"></p>
    <section class="kpis" aria-label="Totals">
      <div class="kpi"><h2>Spend</h2><p id="kpi-spend">…</p></div>
      <div class="kpi"><h2>Requests</h2><p id="kpi-requests">…</p></div>
      <div class="kpi"><h2>Tokens</h2><p id="kpi-tokens">…</p><small id="kpi-tokens-detail"></small></div>
      <div class="kpi"><h2>Monthly run-rate</h2><p id="kpi-runrate">…</p><small>30 days at this period's daily average</small></div>
      <div class="kpi" id="kpi-unpriced-card"><h2>Unpriced</h2><p id="kpi-unpriced">…</p><small id="kpi-unpriced-models"></small></div>
    </section>
    <section class="card wide" aria-labelledby="chart-title">
      <h2 id="chart-title">Spend over time</h2>
      <div class="chart-box"><canvas id="spend-chart" role="img" aria-label="Spend over time"></canvas></div>
      <details><summary>Chart data as a table</summary><div id="chart-table"></div></details>
    </section>
    <div class="tops">
      <section class="card" aria-labelledby="top-model-title"><h2 id="top-model-title">Top models</h2><div id="top-model"></div></section>
      <section class="card" aria-labelledby="top-feature-title"><h2 id="top-feature-title">Top features</h2><div id="top-feature"></div></section>
      <section class="card" aria-labelledby="top-project-title"><h2 id="top-project-title">Top projects</h2><div id="top-project"></div></section>
      <section class="card" aria-labelledby="top-end_user-title"><h2 id="top-end_user-title">Top end users</h2><div id="top-end_user"></div></section>
    </div>`;
  const form = $("#filters");
  let chart = null;
  let inflight = null;

  const sync = () => {
    form.range.value = s.range;
    form.from.value = s.from;
    form.to.value = s.to;
    $$(".date", form).forEach((el) => { el.hidden = s.range !== "custom"; });
    form.by.value = s.by;
    form.interval.value = s.interval;
  };

  const load = async () => {
    inflight?.abort();
    const abort = new AbortController();
    inflight = abort;
    const win = windowOf(s);
    const filters = s.filters;
    const interval = intervalFor(s, win);
    const base = { from: win.from, to: win.to, ...filters };
    $("#dash-status").textContent = "Loading…";
    delete main.dataset.loaded;
    const get = (path, extra = {}) => api(path + query({ ...base, ...extra }), { signal: abort.signal });
    const [summary, series, models, ...tops] = await Promise.all([
      get("/api/v1/usage/summary"),
      get("/api/v1/usage/series", { interval, group_by: s.by, top: 8 }),
      get("/api/v1/usage/models"),
      ...["feature", "project", "end_user"].map((d) => get("/api/v1/usage/summary", { group_by: d })),
    ]);
    if (abort.signal.aborted) return;
    showTotals(summary, series, models);
    chart = showChart(chart, series, s.by);
    showTops(models, tops, filters);
    fillFilterOptions(form, models, tops, filters);
    $("#dash-status").textContent = summary.totals.requests ? ""
      : "No usage in this period. Import some on the Import page.";
    main.dataset.loaded = String(Date.now());
  };

  const reload = () => {
    ctx.setParams(toParams(s));
    sync();
    load().catch((err) => {
      if (err.name === "AbortError") return;
      if (err instanceof ApiError && err.status !== 401) {
        $("#dash-status").textContent = err.message; // e.g. 'from' after 'to': fix and go on
      } else {
        ctx.fail(err);
      }
    });
  };

  form.addEventListener("change", (ev) => {
    const name = ev.target.name;
    if (name === "range") {
      s.range = form.range.value;
      if (s.range !== "custom") { s.from = ""; s.to = ""; }
    } else if (name === "from" || name === "to") {
      s[name] = form[name].value;
    } else if (ev.target.hasAttribute("data-filter")) {
      const v = ev.target.value;
      if (v !== "__keep") s.filters[name] = v === "" ? [] : [v === "__none" ? "" : v];
    } else {
      s[name] = ev.target.value;
    }
    reload();
  });
  $("#clear-filters").addEventListener("click", () => {
    for (const [dim] of DIMENSIONS) s.filters[dim] = [];
    reload();
  });
  main.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-drill]");
    if (!b) return;
    s.filters[b.dataset.drill] = [b.dataset.value];
    reload();
  });
  sync();
  await load();
  return () => { inflight?.abort(); chart?.destroy(); };
}

function showTotals(summary, series, models) {
  const t = summary.totals;
  $("#kpi-spend").textContent = usd(t.cost_usd, 2);
  $("#kpi-requests").textContent = int(t.requests);
  $("#kpi-tokens").textContent = compact(t.input_tokens + t.output_tokens);
  $("#kpi-tokens").title = `${int(t.input_tokens + t.output_tokens)} tokens`;
  $("#kpi-tokens-detail").textContent =
    `${int(t.input_tokens)} in (${int(t.cached_input_tokens)} cached) · ${int(t.output_tokens)} out`;
  // Run-rate over the period actually covered (the series' window: the filter's dates, or the
  // data's first to last bucket), normalised to 30 days.
  const days = series.from && series.to ? (Date.parse(series.to) - Date.parse(series.from)) / DAY : 0;
  $("#kpi-runrate").textContent = t.cost_usd === null || !days ? "–" : usd((t.cost_usd / days) * 30, 2);
  $("#kpi-unpriced").textContent = `${int(t.unpriced_requests)} request${t.unpriced_requests === 1 ? "" : "s"}`;
  const unpriced = models.models.filter((m) => m.unpriced_requests > 0);
  $("#kpi-unpriced-models").textContent = unpriced.length
    ? `No price known for: ${unpriced.map((m) => `${m.provider}/${m.model}`).join(", ")}` : "Every model is priced";
  $("#kpi-unpriced-card").classList.toggle("warn", unpriced.length > 0);
}

function label(t, interval) {
  return interval === "hour" ? t.slice(5, 16).replace("T", " ") : t.slice(0, 10);
}

function showChart(chart, series, by) {
  const lines = series.series.map((line, i) => ({
    label: line.key === null ? "All" : line.key || "(none)", points: line.points, colour: PALETTE[i % PALETTE.length],
  }));
  if (series.other.points.some((p) => p.requests > 0)) {
    lines.push({ label: "Other", points: series.other.points, colour: OTHER_COLOUR });
  }
  const labels = (series.series[0] || series.other).points.map((p) => label(p.t, series.interval));
  const name = DIMENSIONS.find(([d]) => d === by)[1].toLowerCase();
  $("#chart-title").textContent = `Spend over time by ${name} (per ${series.interval})`;
  const total = lines.reduce((a, l) => a + l.points.reduce((b, p) => b + p.cost_usd, 0), 0);
  $("#spend-chart").setAttribute("aria-label",
    `Stacked bar chart of spend per ${series.interval} by ${name}: ${usd(total, 2)} over ${labels.length} ${series.interval}s; the table below holds the same figures.`);
  const data = {
    labels,
    datasets: lines.map((l) => ({ label: l.label, data: l.points.map((p) => p.cost_usd),
      backgroundColor: l.colour, borderWidth: 0 })),
  };
  if (chart) {
    chart.data = data;
    chart.update();
  } else {
    chart = new window.Chart($("#spend-chart"), {
      type: "bar",
      data,
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true } },
          y: { stacked: true, ticks: { callback: (v) => usd(v, v < 1 ? 2 : 0) } },
        },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${usd(c.parsed.y)}` } },
        },
      },
    });
  }
  $("#chart-table").innerHTML = `<div class="table-wrap"><table class="responsive"><thead><tr><th scope="col">${esc(series.interval)}</th>${
    lines.map((l) => `<th scope="col">${esc(l.label)}</th>`).join("")}</tr></thead><tbody>${
    labels.map((t, i) => `<tr><td data-label="${esc(series.interval)}">${esc(t)}</td>${lines.map((l) =>
      `<td data-label="${esc(l.label)}">${usd(l.points[i].cost_usd)}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`;
  return chart;
}

function topTable(rows, dim, total) {
  if (!rows.length) return `<p class="muted">Nothing in this period.</p>`;
  const body = rows.slice(0, 10).map((r) => {
    const share = total && r.cost_usd ? (r.cost_usd / total) * 100 : 0;
    const name = r.name === "" ? "(none)" : r.name;
    return `<tr><td data-label="Name"><button type="button" class="link" data-drill="${dim}" data-value="${esc(r.value)}"
      title="Filter by ${esc(name)}">${esc(name)}</button></td>
      <td data-label="Spend" class="num">${usd(r.cost_usd)}</td>
      <td data-label="Requests" class="num">${int(r.requests)}</td>
      <td data-label="Share" class="num"><span class="bar" aria-hidden="true"><span style="width:${share.toFixed(1)}%"></span></span>${share.toFixed(1)} %</td></tr>`;
  }).join("");
  const more = rows.length > 10 ? `<p class="muted">and ${rows.length - 10} more</p>` : "";
  return `<div class="table-wrap"><table class="responsive top"><thead><tr><th scope="col">Name</th>
    <th scope="col" class="num">Spend</th><th scope="col" class="num">Requests</th>
    <th scope="col" class="num">Share</th></tr></thead><tbody>${body}</tbody></table></div>${more}`;
}

function showTops(models, tops, filters) {
  const total = models.models.reduce((a, m) => a + (m.cost_usd || 0), 0);
  $("#top-model").innerHTML = topTable(models.models.map((m) => ({ ...m, name: `${m.model} (${m.provider})`, value: m.model })), "model", total);
  ["feature", "project", "end_user"].forEach((dim, i) => {
    const rows = tops[i].groups.map((g) => ({ ...g, name: g.key, value: g.key }));
    $(`#top-${dim}`).innerHTML = topTable(rows, dim, total);
  });
}

// A filter's choices are the values seen under the other filters, plus what is selected.
function fillFilterOptions(form, models, tops, filters) {
  const seen = {
    model: models.models.map((m) => m.model),
    provider: models.models.map((m) => m.provider),
    feature: tops[0].groups.map((g) => g.key),
    project: tops[1].groups.map((g) => g.key),
    end_user: tops[2].groups.map((g) => g.key),
  };
  for (const [dim] of DIMENSIONS) {
    const select = form[dim];
    const chosen = filters[dim];
    const values = [...new Set([...chosen, ...seen[dim]])].sort();
    const opts = [`<option value="">All</option>`];
    if (chosen.length > 1) opts.push(`<option value="__keep">${esc(chosen.join(" + "))}</option>`);
    for (const v of values) {
      opts.push(v === "" ? `<option value="__none">(none)</option>` : `<option value="${esc(v)}">${esc(v)}</option>`);
    }
    select.innerHTML = opts.join("");
    select.value = chosen.length > 1 ? "__keep" : chosen.length ? (chosen[0] === "" ? "__none" : chosen[0]) : "";
  }
}
