// The dashboard reads the same JSON API as everyone else; each chart says so when it has nothing to show.
// The view is in the URL (?session=YYYY-MM-DD&horizon=N); every table links its CSV download.
"use strict";

const HORIZONS = [5, 10, 20];
const HORIZON_COLORS = { 5: "#1565c0", 10: "#6a1b9a", 20: "#00838f" };
const BANNER_TEXT = {
  SYNTHETIC: "SYNTHETIC DATA: generated prices, not market data. Do not use for decisions.",
  REPLAY: "REPLAY: recorded real market data, replayed offline.",
  YAHOO: "YAHOO: market data collected from Yahoo Finance.",
};
const HISTORY_SESSIONS = 40;
const PRICE_SESSIONS = 60;

const view = { sessions: [], byDate: {}, session: null, horizon: 5, closures: [], etfs: new Set(),
               portfolios: {}, trackRecord: null, closuresLoading: null, trackRecordLoading: null };

// plotly.min.js runs after this script (both deferred): the data is fetched meanwhile, charts wait for it.
// This script runs while readyState is "interactive"; DOMContentLoaded fires once every deferred script has run.
const plotlyReady = new Promise(resolve => {
  if (window.Plotly || document.readyState === "complete") resolve();
  else document.addEventListener("DOMContentLoaded", resolve);
});

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function getJson(path) {
  const response = await fetch(path);
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new ApiError(response.status, body.detail || response.statusText);
  return body;
}

const $ = id => document.getElementById(id);
const pct = (value, digits = 1) => value === null || value === undefined ? "–" : `${(value * 100).toFixed(digits)} %`;
const num = (value, digits = 3) => value === null || value === undefined ? "–" : value.toFixed(digits);
const signed = value => value === null || value === undefined ? "–" : (value >= 0 ? "+" : "") + pct(value);
const withCsv = path => path + (path.includes("?") ? "&" : "?") + "format=csv";

async function showEmpty(id, message) {
  await plotlyReady;
  const element = $(id);
  Plotly.purge(element);
  element.classList.add("empty");
  element.textContent = message;
}

async function plot(id, traces, layout) {
  await plotlyReady;
  const element = $(id);
  if (element.classList.contains("empty")) {  // only the message goes: clearing a live plot would blank it
    element.classList.remove("empty");
    element.textContent = "";
  }
  return Plotly.react(element, traces, Object.assign({ margin: { t: 30, r: 10, b: 50, l: 55 } }, layout),
                      { displayModeBar: false, responsive: true });
}

// A date axis that skips weekends and the exchange's holidays: sessions sit next to each other, in date order.
function dateAxis(extra) {
  return Object.assign({ type: "date", automargin: true, nticks: 10,
                         rangebreaks: [{ bounds: ["sat", "mon"] }, { values: view.closures }] }, extra);
}

function onClick(id, handler) {  // one handler per chart, however often it is redrawn
  const element = $(id);
  if (element.removeAllListeners) element.removeAllListeners("plotly_click");
  element.on("plotly_click", handler);
}

function sessionLine(session) {
  return { type: "line", xref: "x", yref: "paper", x0: session, x1: session, y0: 0, y1: 1,
           line: { color: "#999", dash: "dash" } };
}

function setBanner(label) {
  const banner = $("source-banner");
  banner.className = "banner " + label;
  banner.dataset.source = label;
  banner.textContent = BANNER_TEXT[label] || ("data source: " + label);
}

// --- tables: every table has a caption, header cells, ticker buttons for drill-down and a CSV download ----------

function csvBlobUrl(columns, rows) {
  const quote = value => {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [columns.map(c => c.key).join(","), ...rows.map(r => columns.map(c => quote(r[c.key])).join(","))];
  return URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
}

function renderTable(id, { caption, columns, rows, csvUrl, csvName, rowClass }) {
  const container = $(id);
  container.textContent = "";
  const table = document.createElement("table");
  table.createCaption().textContent = caption + " ";
  const link = document.createElement("a");
  link.className = "csv";
  link.textContent = "Download CSV";
  link.href = csvUrl || csvBlobUrl(columns, rows);
  if (!csvUrl) link.download = `${csvName || id}.csv`;
  table.caption.append(link);
  const head = table.createTHead().insertRow();
  for (const column of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = column.label;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    if (rowClass) tr.className = rowClass(row);
    for (const column of columns) {
      const td = tr.insertCell();
      const value = row[column.key];
      if (column.drill && value) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = value;
        button.setAttribute("aria-label", `Drill down into ${value}`);
        button.addEventListener("click", () => drill(value));
        td.append(button);
      } else {
        td.textContent = column.format ? column.format(value, row) : (value ?? "–");
      }
    }
  }
  container.dataset.rows = rows.length;
  container.append(table);
}

// --- today: the ranking and which sectors trend since when ---------------------------------------------------------

function sessionsBetween(start, end) {
  return view.sessions.filter(s => s.session_date >= start && s.session_date <= end).length;
}

async function renderRanking(session) {
  const path = `/api/sessions/${session}/trending-etfs?limit=100`;
  const items = (await getJson(path)).items;
  items.forEach(r => view.etfs.add(r.ticker));
  const bar = (rows, name, color) => ({
    type: "bar", name, x: rows.map(r => r.ticker), y: rows.map(r => r.score),
    // score_rank counts within a role: sectors are ranked among sectors, benchmarks among benchmarks.
    marker: { color }, text: rows.map(r => r.score_rank ? `#${r.score_rank}` : ""), textposition: "outside",
    customdata: rows.map(r => [r.excess_20, r.ret_20]),
    hovertemplate: "%{x}: score %{y:.4f}<br>excess 20d %{customdata[0]:.2%}<br>return 20d %{customdata[1]:.2%}",
  });
  const trending = items.filter(r => r.is_trending);
  // Highest score first across benchmarks and sectors (the API orders by each role's rank).
  const byScore = [...items].sort((a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity));
  const since = trending.map(r => `${r.ticker} (since ${r.trending_since}, ` +
                                  `${sessionsBetween(r.trending_since, session)} session${sessionsBetween(r.trending_since, session) === 1 ? "" : "s"})`);
  $("today-summary").textContent = trending.length
    ? `On ${session}, ${trending.length} sector${trending.length > 1 ? "s" : ""} trend: ${since.join(", ")}.`
    : `On ${session}, no sector trends: the portfolios hold SPY.`;
  $("today-summary").dataset.trending = trending.map(r => r.ticker).join(",");
  renderTable("table-ranking", {
    caption: `Ranking on ${session}`, csvUrl: withCsv(path),
    columns: [{ key: "ticker", label: "ETF", drill: true }, { key: "etf_role", label: "role" },
              { key: "score_rank", label: "rank" }, { key: "score", label: "score", format: v => num(v, 4) },
              { key: "excess_20", label: "excess 20d", format: v => pct(v, 2) },
              { key: "above_ma_50", label: "above MA50", format: v => v === null ? "–" : v ? "yes" : "no" },
              { key: "selection", label: "selection" }, { key: "trending_since", label: "trending since" }],
    rows: items,
  });
  await plot("chart-ranking", [
    bar(trending, "trending", "#2e7d32"),
    bar(items.filter(r => !r.is_trending && r.etf_role === "sector"), "sector, not trending", "#9e9e9e"),
    bar(items.filter(r => r.etf_role === "benchmark"), "benchmark", "#78909c"),
  ], { barmode: "overlay", xaxis: { categoryorder: "array", categoryarray: byScore.map(r => r.ticker) },
       yaxis: { title: { text: "score" } } });
  onClick("chart-ranking", event => drill(event.points[0].x));
  if (!document.body.dataset.firstChartMs) {
    document.body.dataset.firstChartMs = Math.round(performance.now());
  }
  return trending.map(r => r.ticker);
}

// --- history: a session × sector heatmap ---------------------------------------------------------------------------

async function renderHistory(session) {
  const path = `/api/trending-history?end=${session}&sessions=${HISTORY_SESSIONS}&limit=1000`;
  const body = await getJson(path);
  const sectors = body.items.filter(r => r.etf_role === "sector");
  const days = body.sessions;
  const count = {};
  for (const r of sectors) count[r.ticker] = (count[r.ticker] || 0) + (r.is_trending ? 1 : 0);
  const tickers = Object.keys(count).sort((a, b) => count[b] - count[a] || a.localeCompare(b));
  const cell = Object.fromEntries(sectors.map(r => [`${r.ticker}|${r.session_date}`, r]));
  const grid = f => tickers.map(t => days.map(d => { const r = cell[`${t}|${d}`]; return r ? f(r) : null; }));
  $("history-range").textContent = days.length ? `(${days.length} sessions, ${days[0]} … ${days[days.length - 1]})` : "";
  await plot("chart-history", [{
    type: "heatmap", x: days, y: tickers, z: grid(r => r.is_trending ? 1 : 0), zmin: 0, zmax: 1,
    colorscale: [[0, "#eeeeee"], [1, "#2e7d32"]], showscale: false, xgap: 1, ygap: 1,
    text: grid(r => r.score_rank ? String(r.score_rank) : ""), texttemplate: "%{text}", textfont: { size: 9 },
    customdata: grid(r => r.selection),
    hovertemplate: "%{y} on %{x}: rank %{text}, %{customdata}<extra></extra>",
  }], { xaxis: { type: "category", categoryorder: "array", categoryarray: days, tickangle: -45, nticks: 20,
                 automargin: true },
        yaxis: { autorange: "reversed" }, margin: { t: 10, r: 10, b: 70, l: 55 } });
  onClick("chart-history", event => drill(event.points[0].y));
}

// --- portfolios: what each holds and why ---------------------------------------------------------------------------

function explanationHtml(portfolio) {
  const e = portfolio.explanation;
  const box = document.createElement("div");
  const title = document.createElement("p");
  const method = document.createElement("span");
  method.className = "method" + (e.method === "score_inv_vol_capped" ? "" : " fallback");
  method.textContent = e.label;
  title.append(`${portfolio.horizon} sessions: `, method, ` · ${portfolio.total} position${portfolio.total === 1 ? "" : "s"}`);
  const reason = document.createElement("p");
  reason.className = "reason";
  reason.textContent = e.reason;
  box.append(title, reason);
  if (e.notes.length) {
    const list = document.createElement("ul");
    for (const note of e.notes) list.appendChild(document.createElement("li")).textContent = note;
    box.append(list);
  }
  const age = document.createElement("p");
  age.className = "age";
  age.textContent = e.holdings_as_of
    ? `holdings as of ${e.holdings_as_of} (${e.holdings_age_sessions} session${e.holdings_age_sessions === 1 ? "" : "s"} old)`
    : "no holdings list behind it (the ETFs or SPY themselves)";
  box.append(age);
  return box;
}

async function renderPortfolio(session, horizon) {
  const id = `chart-portfolio-${horizon}`;
  const explain = $(`explain-${horizon}`);
  explain.textContent = "";
  try {
    const portfolio = await getJson(`/api/sessions/${session}/portfolios/${horizon}?limit=1000`);
    view.portfolios[horizon] = portfolio;
    explain.append(explanationHtml(portfolio));
    explain.dataset.method = portfolio.explanation.method;
    if (!portfolio.items.length) return showEmpty(id, `No ${horizon}-session portfolio for ${session}.`);
    await plot(id, [{
      type: "bar", x: portfolio.items.map(p => p.ticker), y: portfolio.items.map(p => p.weight),
      marker: { color: HORIZON_COLORS[horizon] }, hovertemplate: "%{x}: %{y:.2%}<extra></extra>",
    }], { yaxis: { tickformat: ".0%", rangemode: "tozero" }, margin: { t: 10, r: 10, b: 40, l: 45 } });
    onClick(id, event => drill(event.points[0].x));
  } catch (error) {
    view.portfolios[horizon] = null;
    explain.textContent = "";
    showEmpty(id, `${horizon}-session portfolio unavailable: ${error.message}`);
  }
}

function renderPositions(session, horizon) {
  const portfolio = view.portfolios[horizon];
  document.querySelectorAll(".horizon-name").forEach(e => { e.textContent = `${horizon}-session`; });
  renderTable("table-positions", {
    caption: `${horizon}-session portfolio on ${session}`,
    csvUrl: withCsv(`/api/sessions/${session}/portfolios/${horizon}?limit=1000`),
    columns: [{ key: "ticker", label: "ticker", drill: true }, { key: "weight", label: "weight", format: v => pct(v) },
              { key: "score", label: "score", format: v => num(v) },
              { key: "volatility", label: "volatility", format: v => pct(v) },
              { key: "source_etfs", label: "from ETFs" }, { key: "method", label: "method" },
              { key: "holdings_as_of", label: "holdings as of" }],
    rows: portfolio ? portfolio.items : [],
  });
}

// --- changes since the previous session, and turnover over time ----------------------------------------------------

async function renderChanges(session, horizon) {
  const path = `/api/sessions/${session}/portfolios/${horizon}/changes?limit=1000`;
  const body = await getJson(path);
  const names = kind => body.items.filter(r => r.change === kind).map(r => r.ticker);
  const entered = names("entered"), left = names("left");
  $("changes-summary").textContent = body.previous_session === null
    ? `${session} is the first ${horizon}-session portfolio computed: nothing to compare with.`
    : `Since ${body.previous_session}: ${entered.length} entered (${entered.join(", ") || "none"}), ` +
      `${left.length} left (${left.join(", ") || "none"}); turnover ${pct(body.turnover)}.`;
  renderTable("table-changes", {
    caption: `${horizon}-session portfolio on ${session} against ${body.previous_session ?? "nothing"}`,
    csvUrl: withCsv(path), rowClass: r => r.change,
    columns: [{ key: "ticker", label: "ticker", drill: true }, { key: "change", label: "change" },
              { key: "previous_weight", label: `weight ${body.previous_session ?? ""}`, format: v => pct(v) },
              { key: "weight", label: `weight ${session}`, format: v => pct(v) },
              { key: "weight_change", label: "Δ weight", format: v => signed(v) }],
    rows: body.items,
  });
  const turnover = (await getJson(`/api/turnover?horizon=${horizon}&limit=1000`)).items;
  if (!turnover.length) return showEmpty("chart-turnover", "No turnover yet: one portfolio per horizon so far.");
  await plot("chart-turnover", [{
    type: "bar", name: `turnover ${horizon}d`, x: turnover.map(r => r.session_date), y: turnover.map(r => r.turnover),
    marker: { color: turnover.map(r => r.session_date === session ? "#e65100" : HORIZON_COLORS[horizon]) },
    customdata: turnover.map(r => [r.entered, r.left_count]),
    hovertemplate: "%{x}: turnover %{y:.1%}<br>%{customdata[0]} entered, %{customdata[1]} left<extra></extra>",
  }], { xaxis: dateAxis(), yaxis: { tickformat: ".0%", title: { text: "turnover" } }, margin: { t: 10, r: 10, b: 40, l: 55 } });
}

// --- track record --------------------------------------------------------------------------------------------------

async function allItems(path) {  // every page of a list endpoint, oldest first
  const items = [];
  for (;;) {
    const body = await getJson(`${path}${path.includes("?") ? "&" : "?"}limit=1000&offset=${items.length}`);
    items.push(...body.items);
    if (!body.items.length || items.length >= body.total) return items;
  }
}

const OUTCOMES = { benchmark_held: "tie: SPY held", unpriced: "unpriced" };

// What became of each portfolio of the horizon (analytics_07): the ties and the unpriced ones, which the hit rate
// leaves out, and the tracks its running figures restart on after a gap. Returns the restarts' first sessions.
function renderOutcomes(horizon, rows) {
  const ties = rows.filter(r => r.status === "benchmark_held"), unpriced = rows.filter(r => r.status === "unpriced");
  const starts = [...new Set(rows.map(r => r.track_start).filter(Boolean))];
  const restarts = starts.slice(1);
  const tracks = restarts.length
    ? ` Running figures restart after a gap on ${restarts.join(", ")} (first track from ${starts[0]}).`
    : starts.length ? ` One uninterrupted track since ${starts[0]}.` : "";
  $("track-outcomes").textContent = rows.length
    ? `${rows.length} ${horizon}-session portfolios have reached the end of their horizon: ` +
      `${rows.length - ties.length - unpriced.length} scored against SPY, ${ties.length} ` +
      `${ties.length === 1 ? "tie" : "ties"} (SPY held because no ` +
      `sector trended: outside the hit rate, in the curves), ${unpriced.length} unpriced (a holding without a ` +
      `price: outside the hit rate and the curves).${tracks}`
    : `No ${horizon}-session portfolio has reached the end of its horizon yet.`;
  renderTable("table-outcomes", {
    caption: `${horizon}-session portfolios outside the hit rate (analytics_07)`, csvName: "outside-hit-rate",
    columns: [{ key: "session_date", label: "session" }, { key: "evaluated_on", label: "horizon ended" },
              { key: "status", label: "outcome", format: v => OUTCOMES[v] },
              { key: "unpriced_tickers", label: "without a price", format: v => v ? v.split(",").join(", ") : "–" }],
    rows: rows.filter(r => r.status !== "evaluated"),
  });
  return restarts;
}

async function renderTrackRecord(session, horizon) {
  const record = view.trackRecord;
  if (!record) return;
  const outcomes = await allItems(`/api/performance?horizon=${horizon}`);
  const restarts = renderOutcomes(horizon, outcomes);
  const mine = record.horizons.find(r => r.horizon === horizon);
  $("track-summary").textContent = mine.evaluations
    ? `${horizon}-session portfolios: ${mine.evaluations} scored up to ${mine.last_evaluated_on}; beat SPY ` +
      `${pct(mine.hit_rate, 0)} of the time, their own trending ETFs ${pct(mine.hit_rate_vs_trending_etfs, 0)} and ` +
      `the 11 sectors ${pct(mine.hit_rate_vs_sector_etfs, 0)}; cumulative ${signed(mine.cumulative_return)} ` +
      `(${signed(mine.cumulative_net_return)} net of ${(mine.cost_per_turnover * 1e4).toFixed(0)} bp per unit of ` +
      `turnover) against SPY ${signed(mine.cumulative_benchmark_return)} and the trending ETFs ` +
      `${signed(mine.cumulative_trending_etfs_return)}; max drawdown ${pct(mine.max_drawdown)}.`
    : `No ${horizon}-session portfolio has been scored yet: none's horizon has ended.`;
  renderTable("table-track", {
    caption: "Per horizon, from the scored portfolios (analytics_08)", csvName: "track-record",
    columns: [{ key: "horizon", label: "horizon" }, { key: "evaluations", label: "scored" },
              { key: "hit_rate", label: "hit rate vs SPY", format: v => pct(v, 0) },
              { key: "hit_rate_vs_trending_etfs", label: "vs trending ETFs", format: v => pct(v, 0) },
              { key: "hit_rate_vs_sector_etfs", label: "vs 11 sectors", format: v => pct(v, 0) },
              { key: "mean_excess_return", label: "mean excess vs SPY", format: v => signed(v) },
              { key: "mean_excess_vs_trending_etfs", label: "vs trending ETFs", format: v => signed(v) },
              { key: "cumulative_return", label: "cumulative", format: v => signed(v) },
              { key: "cumulative_net_return", label: "net of costs", format: v => signed(v) },
              { key: "cumulative_benchmark_return", label: "SPY", format: v => signed(v) },
              { key: "cumulative_trending_etfs_return", label: "trending ETFs", format: v => signed(v) },
              { key: "cumulative_sector_etfs_return", label: "11 sectors", format: v => signed(v) },
              { key: "max_drawdown", label: "max drawdown", format: v => pct(v) },
              { key: "benchmark_max_drawdown", label: "SPY max drawdown", format: v => pct(v) },
              { key: "mean_turnover", label: "mean turnover", format: v => pct(v) },
              { key: "weighted_share", label: "weighted (not fallback)", format: v => pct(v, 0) }],
    rows: record.horizons, rowClass: r => r.horizon === horizon ? "selected" : "",
  });
  const curve = record.curves.filter(c => c.horizon === horizon)
    .sort((a, b) => a.evaluated_on.localeCompare(b.evaluated_on));
  if (!curve.length) return showEmpty("chart-performance", `No ${horizon}-session portfolio scored yet.`);
  const line = (name, key, style) => ({ type: "scatter", mode: "lines", name, line: style,
                                        x: curve.map(c => c.evaluated_on), y: curve.map(c => c[key]),
                                        hovertemplate: `${name} %{x}: %{y:.2%}<extra></extra>` });
  const traces = [
    line(`portfolio ${horizon}d`, "cumulative_return", { color: HORIZON_COLORS[horizon], width: 3 }),
    line("net of costs", "cumulative_net_return", { color: HORIZON_COLORS[horizon], width: 1 }),
    line("SPY", "cumulative_benchmark_return", { color: "#424242", dash: "dot" }),
    line("trending ETFs", "cumulative_trending_etfs_return", { color: "#2e7d32", dash: "dash" }),
    line("11 sectors", "cumulative_sector_etfs_return", { color: "#9e9e9e", dash: "dashdot" }),
    line("drawdown", "drawdown", { color: "#b00020", width: 1 }),
  ];
  const tied = new Set(outcomes.filter(r => r.status === "benchmark_held").map(r => r.evaluated_on));
  const ties = curve.filter(c => tied.has(c.evaluated_on));
  if (ties.length) {
    traces.push({ type: "scatter", mode: "markers", name: "tie (SPY held)", x: ties.map(c => c.evaluated_on),
                  y: ties.map(c => c.cumulative_return), marker: { symbol: "circle-open", size: 9, color: "#424242" },
                  hovertemplate: "%{x}: SPY held, a tie<extra></extra>" });
  }
  const restartLine = day => ({ ...sessionLine(day), name: "track restart", line: { color: "#b26a00", width: 2 } });
  return plot("chart-performance", traces, {
    xaxis: dateAxis({ title: { text: "session the horizon ended" } }),
    yaxis: { title: { text: "cumulative return" }, tickformat: ".0%" },
    shapes: [sessionLine(session), ...restarts.map(restartLine)],
    annotations: restarts.map(day => ({ x: day, xref: "x", y: 1, yref: "paper", text: "track restarts (gap)",
                                        showarrow: false, xanchor: "left", font: { color: "#b26a00", size: 11 } })),
    legend: { orientation: "h", y: 1.12 } });
}

// --- drill-down ----------------------------------------------------------------------------------------------------

async function drill(ticker) {
  const session = view.session;
  document.body.dataset.drill = "loading";
  try {
    if (view.etfs.has(ticker)) await drillEtf(ticker, session);
    else await drillStock(ticker);
    document.body.dataset.drill = ticker;
  } catch (error) {
    $("drill-subject").textContent = `${ticker}: ${error.message}`;
    document.body.dataset.drill = "error";
  }
}

async function drillEtf(etf, session) {
  $("drill-stock").hidden = true;
  $("drill-etf").hidden = false;
  $("drill-subject").textContent = `${etf} on ${session}`;
  const path = `/api/etfs/${etf}/holdings?as_of=${session}&limit=1000`;
  let holdings;
  try {
    holdings = await getJson(path);
  } catch (error) {
    $("drill-etf-title").textContent = `${etf}: ${error.message}`;
    $("table-holdings").textContent = "";
    $("table-holdings").dataset.rows = 0;
    showEmpty("chart-holdings-prices", `No holdings of ${etf} to chart.`);
    return;
  }
  const inPortfolio = {};
  for (const h of HORIZONS) for (const p of (view.portfolios[h]?.items || [])) (inPortfolio[p.ticker] ||= {})[h] = p;
  const rows = holdings.items.map(r => Object.assign({}, r, Object.fromEntries(HORIZONS.map(h => [
    `in_${h}`, inPortfolio[r.holding_ticker]?.[h]?.weight ?? null]).concat(HORIZONS.map(h => [
    `score_${h}`, inPortfolio[r.holding_ticker]?.[h]?.score ?? null])))));
  $("drill-etf-title").textContent = `${etf}: top holdings as of ${holdings.as_of_date}`;
  renderTable("table-holdings", {
    caption: `${etf} holdings as of ${holdings.as_of_date}; weights in the portfolios of ${session}`, csvUrl: withCsv(path),
    columns: [{ key: "holding_ticker", label: "stock", drill: true }, { key: "holding_name", label: "name" },
              { key: "weight", label: `weight in ${etf}`, format: v => pct(v) },
              ...HORIZONS.map(h => ({ key: `in_${h}`, label: `in ${h}d portfolio`, format: v => pct(v) })),
              ...HORIZONS.map(h => ({ key: `score_${h}`, label: `score ${h}d`, format: v => num(v) }))],
    rows,
  });
  const histories = await Promise.all(holdings.items.map(h =>
    getJson(`/api/tickers/${h.holding_ticker}/prices?end=${session}&limit=1000`).then(p => p.items).catch(() => [])));
  const traces = [];
  holdings.items.forEach((h, index) => {
    const rows = histories[index].slice(-PRICE_SESSIONS);
    if (!rows.length) return;
    const base = rows[0].adj_close;
    traces.push({ type: "scatter", mode: "lines", name: h.holding_ticker, x: rows.map(r => r.trade_date),
                  y: rows.map(r => 100 * r.adj_close / base),
                  hovertemplate: `${h.holding_ticker} %{x}: %{y:.1f}<extra></extra>` });
  });
  if (!traces.length) return showEmpty("chart-holdings-prices", `No prices collected for ${etf}'s holdings.`);
  await plot("chart-holdings-prices", traces, {
    xaxis: dateAxis(), yaxis: { title: { text: `adjusted close, first shown session = 100` } },
    shapes: [sessionLine(session)], legend: { orientation: "h", y: 1.15 } });
  onClick("chart-holdings-prices", event => drill(event.points[0].data.name));
}

async function drillStock(ticker) {
  $("drill-etf").hidden = true;
  $("drill-stock").hidden = false;
  $("drill-subject").textContent = ticker;
  const path = `/api/tickers/${ticker}/weights?limit=1000`;
  const body = await getJson(path);
  const contributed = body.items.filter(r => r.contribution !== null);
  const total = contributed.reduce((sum, r) => sum + r.contribution, 0);
  $("drill-stock-title").textContent = `${ticker}: in ${body.total} portfolios; ` +
    `${contributed.length} of them scored, contributing ${signed(total)} in sum (weight × its return over the horizon)`;
  const traces = HORIZONS.map(h => {
    const rows = body.items.filter(r => r.horizon === h).sort((a, b) => a.session_date.localeCompare(b.session_date));
    return { type: "scatter", mode: "lines+markers", name: `weight ${h}d`, line: { color: HORIZON_COLORS[h] },
             x: rows.map(r => r.session_date), y: rows.map(r => r.weight),
             hovertemplate: `${h}d %{x}: %{y:.1%}<extra></extra>` };
  }).filter(t => t.x.length);
  if (traces.length) {
    await plot("chart-stock-weights", traces, { xaxis: dateAxis(), yaxis: { tickformat: ".0%", rangemode: "tozero" },
                                                margin: { t: 10, r: 10, b: 40, l: 50 } });
  } else {
    showEmpty("chart-stock-weights", `${ticker} was in no portfolio.`);
  }
  renderTable("table-stock-weights", {
    caption: `${ticker} in every portfolio that held it`, csvUrl: withCsv(path),
    columns: [{ key: "session_date", label: "session" }, { key: "horizon", label: "horizon" },
              { key: "weight", label: "weight", format: v => pct(v) }, { key: "score", label: "score", format: v => num(v) },
              { key: "method", label: "method" }, { key: "evaluated_on", label: "horizon ended" },
              { key: "ticker_return", label: "its return", format: v => signed(v) },
              { key: "contribution", label: "contribution", format: v => signed(v) },
              { key: "portfolio_return", label: "portfolio return", format: v => signed(v) }],
    rows: body.items,
  });
}

// --- the session, the URL and the footer ---------------------------------------------------------------------------

function renderFooter(status) {
  const footer = $("status-line");
  footer.textContent = "Tables: " + status.tables.filter(t => t.exists).map(t =>
    t.table === "analytics_07_portfolio_performance"
      ? `${t.table} ${t.row_count} rows, evaluated ${t.min_date} … ${t.max_date}`
      : `${t.table} ${t.row_count} rows ${t.min_date} … ${t.max_date}`).join(" · ");
  const performance = status.tables.find(t => t.table === "analytics_07_portfolio_performance");
  footer.dataset.performanceUntil = performance && performance.exists ? performance.max_date || "" : "";
}

function writeUrl() {
  const url = new URL(window.location.href);
  url.searchParams.set("session", view.session);
  url.searchParams.set("horizon", view.horizon);
  window.history.replaceState(null, "", url);
}

async function showSession(session) {
  document.body.dataset.state = "loading";
  $("errors").textContent = "";
  view.session = session;
  $("session-select").value = session;
  setBanner(view.byDate[session].source_label);
  writeUrl();
  try {
    await renderRanking(session);
    await Promise.all([...HORIZONS.map(h => renderPortfolio(session, h)), renderHistory(session)]);
    await showHorizon(view.horizon);
    if (view.session !== session) return;  // a later choice ([ or ] pressed again) is loading: it says when it is ready
    document.body.dataset.session = session;
    document.body.dataset.state = "ready";
  } catch (error) {
    if (view.session !== session) return;
    $("errors").textContent = `Could not load ${session}: ${error.message}`;
    document.body.dataset.state = "error";
  }
}

async function showHorizon(horizon) {
  view.horizon = horizon;
  $("horizon-select").value = String(horizon);
  writeUrl();
  renderPositions(view.session, horizon);
  // The date axes skip the closures and the track record is read once: both load while the ranking draws.
  [view.closures, view.trackRecord] = await Promise.all([view.closuresLoading, view.trackRecordLoading]);
  await Promise.all([renderChanges(view.session, horizon), renderTrackRecord(view.session, horizon)]);
  document.body.dataset.horizon = horizon;
}

function step(offset) {  // sessions are newest first: +1 is older
  const index = view.sessions.findIndex(s => s.session_date === view.session) + offset;
  if (index >= 0 && index < view.sessions.length) return showSession(view.sessions[index].session_date);
}

async function loadTrackRecord() {
  try {
    return await getJson("/api/track-record");
  } catch (error) {
    showEmpty("chart-performance", `Track record unavailable: ${error.message}`);
    return null;
  }
}

async function main() {
  const select = $("session-select");
  try {
    const [sessions, status] = await Promise.all([getJson("/api/sessions?limit=1000"), getJson("/api/status")]);
    renderFooter(status);
    if (!sessions.items.length) {
      setBanner(status.data_source);
      $("errors").textContent = "No session has been computed yet: run `uv run trendfolio run` first.";
      document.body.dataset.state = "empty";
      return;
    }
    view.sessions = sessions.items;
    view.byDate = Object.fromEntries(sessions.items.map(s => [s.session_date, s]));
    for (const s of sessions.items) select.add(new Option(`${s.session_date} (${s.source_label})`, s.session_date));
    const oldest = status.tables.map(t => t.min_date).filter(Boolean).sort()[0];
    view.closuresLoading = getJson(`/api/market-closures?start=${oldest}&end=${sessions.items[0].session_date}`)
      .then(body => body.closed_weekdays, () => []);
    view.trackRecordLoading = loadTrackRecord();

    const params = new URLSearchParams(window.location.search);
    const wanted = params.get("session");
    const horizon = Number(params.get("horizon"));
    if (HORIZONS.includes(horizon)) view.horizon = horizon;
    select.addEventListener("change", () => showSession(select.value));
    $("horizon-select").addEventListener("change", event => showHorizon(Number(event.target.value)));
    $("session-previous").addEventListener("click", () => step(1));
    $("session-next").addEventListener("click", () => step(-1));
    document.addEventListener("keydown", event => {
      if (event.target.matches && event.target.matches("input, textarea")) return;
      if (event.key === "[") step(1);
      else if (event.key === "]") step(-1);
    });
    if (wanted && !view.byDate[wanted]) {
      await showSession(sessions.items[0].session_date);
      $("errors").textContent = `${wanted} has not been computed: showing the latest session instead.`;
    } else {
      await showSession(wanted || sessions.items[0].session_date);
    }
  } catch (error) {
    $("errors").textContent = `Could not reach the API: ${error.message}`;
    document.body.dataset.state = "error";
  }
}

main();
