/* The overview: numbers and charts from GET /api/v1/metrics/summary. The log tail
   (GET /api/v1/logs/tail, polled every 400 ms) tells when a call was logged — by this or any
   other process on the store — so the numbers follow within a second; they are also
   refreshed every 5 s as the window moves. */
(function () {
  "use strict";
  const CALL_EVENTS = new Set(["mcp.call", "notion call", "gate.decision", "gate.review", "gate.consume"]);
  let lastId = null;
  let busy = false;
  let again = false;
  let calls = null;
  let latency = null;

  function fill(summary) {
    document.querySelectorAll("[data-metric]").forEach((node) => {
      node.textContent = DF.format(DF.dig(summary, node.dataset.metric), node.dataset.format);
    });
    const minutes = document.getElementById("window-minutes");
    if (minutes) minutes.textContent = String(Math.round(summary.window.seconds / 60));
    const meter = document.getElementById("rate-meter");
    if (meter) meter.value = Math.min(1, summary.rate_limit.in_use || 0);
    draw(summary.series);
    document.body.dataset.summaryAt = summary.window.until;
  }

  function draw(series) {
    const xs = series.calls.map((_, i) => series.start + i * series.step);
    const callsData = [xs, series.calls, series.errors];
    const ms = (values) => values.map((v) => (v === null ? null : v * 1000));
    const latencyData = [xs, ms(series.p50), ms(series.p95)];
    const callsNode = document.getElementById("chart-calls");
    const latencyNode = document.getElementById("chart-latency");
    if (callsNode) {
      if (!calls) {
        calls = DFCharts.make(callsNode, [{ label: "calls" }, { label: "errors", color: "#d93025" }], callsData);
        callsNode._chart = calls;
      } else DFCharts.update(calls, callsData);
    }
    if (latencyNode) {
      if (!latency) {
        latency = DFCharts.make(latencyNode, [{ label: "p50 ms" }, { label: "p95 ms", color: "#e37400" }], latencyData);
        latencyNode._chart = latency;
      } else DFCharts.update(latency, latencyData);
    }
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      fill(await DF.json("/api/v1/metrics/summary"));
      DF.showError(document.getElementById("overview-error"), null);
    } catch (error) {
      DF.showError(document.getElementById("overview-error"), "Could not load the numbers: " + error.message);
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  async function follow() {
    try {
      const url = lastId === null ? "/api/v1/logs/tail?limit=1" : "/api/v1/logs/tail?limit=1000&after=" + lastId;
      const body = await DF.json(url);
      // The first answer only fixes the position: refresh then too, for a call logged
      // between the first summary and it.
      const fresh = lastId === null || body.lines.some((line) => CALL_EVENTS.has(line.event));
      if (body.last_id !== null && body.last_id !== undefined) lastId = body.last_id;
      else if (lastId === null) lastId = 0;
      if (fresh) refresh();
    } catch (error) { /* the next poll tries again */ }
    setTimeout(follow, 400);
  }

  document.addEventListener("DOMContentLoaded", () => {
    refresh();
    follow();
    setInterval(refresh, 5000);
  });
})();
