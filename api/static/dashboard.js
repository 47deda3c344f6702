// The dashboard reads the same JSON API as everyone else; each chart says so when it has nothing to show.
"use strict";

const HORIZONS = [5, 10, 20];
const BANNER_TEXT = {
  SYNTHETIC: "SYNTHETIC DATA: generated prices, not market data. Do not use for decisions.",
  REPLAY: "REPLAY: recorded real market data, replayed offline.",
  YAHOO: "YAHOO: market data collected from Yahoo Finance.",
};

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function getJson(path) {
  const response = await fetch(path);
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new ApiError(response.status, body.detail || response.statusText);
  return body;
}

function showEmpty(id, message) {
  const element = document.getElementById(id);
  Plotly.purge(element);
  element.classList.add("empty");
  element.textContent = message;
}

function plot(id, traces, layout) {
  const element = document.getElementById(id);
  if (element.classList.contains("empty")) {  // only the message goes: clearing a live plot would blank it
    element.classList.remove("empty");
    element.textContent = "";
  }
  return Plotly.react(element, traces, Object.assign({ margin: { t: 30, r: 10, b: 60, l: 50 } }, layout),
                      { displayModeBar: false, responsive: true });
}

function setBanner(label) {
  const banner = document.getElementById("source-banner");
  banner.className = "banner " + label;
  banner.dataset.source = label;
  banner.textContent = BANNER_TEXT[label] || ("data source: " + label);
}

async function renderRanking(session) {
  const ranking = await getJson(`/api/sessions/${session}/trending-etfs?limit=100`);
  const bar = (rows, name, color) => ({
    type: "bar", name, x: rows.map(r => r.ticker), y: rows.map(r => r.score),
    // score_rank counts within a role: sectors are ranked among sectors, benchmarks among benchmarks.
    marker: { color }, text: rows.map(r => r.score_rank ? `#${r.score_rank}` : ""), textposition: "outside",
    customdata: rows.map(r => [r.excess_20, r.ret_20]),
    hovertemplate: "%{x}: score %{y:.4f}<br>excess 20d %{customdata[0]:.2%}<br>return 20d %{customdata[1]:.2%}",
  });
  const items = ranking.items;
  const trending = items.filter(r => r.is_trending);
  // Highest score first across benchmarks and sectors (the API orders by each role's rank).
  const byScore = [...items].sort((a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity));
  await plot("chart-ranking", [
    bar(trending, "trending", "#2e7d32"),
    bar(items.filter(r => !r.is_trending && r.etf_role === "sector"), "sector, not trending", "#9e9e9e"),
    bar(items.filter(r => r.etf_role === "benchmark"), "benchmark", "#78909c"),
  ], { barmode: "overlay", xaxis: { categoryorder: "array", categoryarray: byScore.map(r => r.ticker) },
       yaxis: { title: { text: "score" } } });
  return trending.map(r => r.ticker);
}

async function renderPortfolio(session, horizon) {
  const id = `chart-portfolio-${horizon}`;
  try {
    const portfolio = await getJson(`/api/sessions/${session}/portfolios/${horizon}?limit=1000`);
    if (!portfolio.items.length) return showEmpty(id, `No ${horizon}-session portfolio for ${session}.`);
    await plot(id, [{
      type: "bar", x: portfolio.items.map(p => p.ticker), y: portfolio.items.map(p => p.weight),
      marker: { color: "#1565c0" }, hovertemplate: "%{x}: %{y:.2%}<extra></extra>",
    }], { title: { text: `${horizon} sessions (${portfolio.total} positions)`, font: { size: 13 } },
         yaxis: { tickformat: ".1%", rangemode: "tozero" } });
  } catch (error) {
    showEmpty(id, `${horizon}-session portfolio unavailable: ${error.message}`);
  }
}

async function renderPerformance(session) {
  const id = "chart-performance";
  let rows;
  try {
    rows = (await getJson("/api/performance?limit=1000")).items;
  } catch (error) {
    return showEmpty(id, `Realized performance unavailable: ${error.message}`);
  }
  if (!rows.length) return showEmpty(id, "No realized performance yet: no portfolio's horizon has ended.");
  const traces = [];
  HORIZONS.forEach((horizon, index) => {
    const own = rows.filter(r => r.horizon === horizon);
    if (!own.length) return;
    const color = ["#1565c0", "#6a1b9a", "#00838f"][index];
    // The cumulative curves: each allocation compounded over its horizon, against SPY over the same sessions.
    traces.push({ type: "scatter", mode: "lines+markers", name: `portfolio ${horizon}d`, line: { color },
                  x: own.map(r => r.evaluated_on), y: own.map(r => r.cumulative_return) });
    traces.push({ type: "scatter", mode: "lines", name: `SPY ${horizon}d`, line: { color, dash: "dot" },
                  x: own.map(r => r.evaluated_on), y: own.map(r => r.cumulative_benchmark_return) });
  });
  await plot(id, traces, {
    yaxis: { title: { text: "cumulative return" }, tickformat: ".1%" },
    xaxis: { title: { text: "session the horizon ended" }, type: "category" },  // sessions only: no weekend gaps
    shapes: [{ type: "line", xref: "x", yref: "paper", x0: session, x1: session, y0: 0, y1: 1,
               line: { color: "#999", dash: "dash" } }],
  });
}

async function showSession(session, sessionsByDate) {
  document.body.dataset.state = "loading";
  document.getElementById("errors").textContent = "";
  const info = sessionsByDate[session];
  setBanner(info.source_label);
  try {
    const trending = await renderRanking(session);
    document.getElementById("session-info").textContent =
      `${session}: trending ${trending.length ? trending.join(", ") : "none"}`;
    await Promise.all([...HORIZONS.map(h => renderPortfolio(session, h)), renderPerformance(session)]);
    document.body.dataset.session = session;
    document.body.dataset.state = "ready";
  } catch (error) {
    document.getElementById("errors").textContent = `Could not load ${session}: ${error.message}`;
    document.body.dataset.state = "error";
  }
}

async function main() {
  const select = document.getElementById("session-select");
  try {
    const [sessions, status] = await Promise.all([getJson("/api/sessions?limit=1000"), getJson("/api/status")]);
    document.getElementById("status-line").textContent = "Tables: " + status.tables
      .filter(t => t.exists).map(t => `${t.table} ${t.row_count} rows up to ${t.max_date}`).join(" · ");
    if (!sessions.items.length) {
      setBanner(status.data_source);
      document.getElementById("errors").textContent =
        "No session has been computed yet: run `uv run trendfolio run` first.";
      document.body.dataset.state = "empty";
      return;
    }
    const byDate = Object.fromEntries(sessions.items.map(s => [s.session_date, s]));
    for (const s of sessions.items) select.add(new Option(`${s.session_date} (${s.source_label})`, s.session_date));
    select.addEventListener("change", () => showSession(select.value, byDate));
    await showSession(sessions.items[0].session_date, byDate);
  } catch (error) {
    document.getElementById("errors").textContent = `Could not reach the API: ${error.message}`;
    document.body.dataset.state = "error";
  }
}

main();
