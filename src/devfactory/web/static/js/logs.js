/* The logs page: search (GET /api/v1/logs), volume histogram (GET /api/v1/logs/histogram)
   and a live tail (GET /api/v1/logs/tail?after=<last _id>, polled every 400 ms) whose new
   lines are matched against the filters here, in the browser. Clicking a field of a line
   adds it as a filter. */
(function () {
  "use strict";
  const LEVELS = ["debug", "info", "warning", "error", "critical"];
  const FILTERS = ["q", "level", "stream", "component", "op", "since", "until"];
  const OWN = new Set(["timestamp", "level", "stream", "component", "event", "operation_id", "_id", "trace_id", "span_id"]);
  const MAX_ROWS = 1000;
  const form = document.getElementById("log-filters");
  const list = document.getElementById("log-lines");
  const older = document.getElementById("older");
  const pause = document.getElementById("pause");
  const state = document.getElementById("tail-state");
  const errorBox = document.getElementById("logs-error");
  let shown = new Set();
  let tailFrom = null;
  let paused = false;
  let cursor = null;
  let generation = 0;
  let histogram = null;
  let histogramDue = 0;

  function filters() {
    const out = {};
    for (const name of FILTERS) {
      const value = (form.elements[name].value || "").trim();
      if (value) out[name] = value;
    }
    return out;
  }

  function query(extra) {
    const params = new URLSearchParams(filters());
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    return params.toString();
  }

  function time(stamp) {
    if (!stamp) return "";
    const at = new Date(stamp);
    return isNaN(at) ? String(stamp) : at.toISOString().slice(11, 23);
  }

  function chip(filter, value, label) {
    return DF.el("button", {
      type: "button", class: "field field-" + filter, dataset: { filter: filter, value: value },
      title: "Filter by " + filter + " = " + value, text: label === undefined ? value : label,
    });
  }

  function row(line) {
    const fields = [];
    for (const [key, value] of Object.entries(line)) {
      if (OWN.has(key) || value === null || value === undefined) continue;
      const text = typeof value === "object" ? JSON.stringify(value) : String(value);
      fields.push(DF.el("span", { class: "kv" }, [
        DF.el("b", { text: key }), "=",
        text.length <= 200 ? chip("text", text) : DF.el("span", { text: text.slice(0, 200) + "…" }),
      ]));
    }
    const op = line.operation_id;
    return DF.el("li", {
      class: "log-row level-" + line.level, dataset: { testid: "log-row", event: line.event, id: line._id, level: line.level },
    }, [
      DF.el("time", { datetime: line.timestamp, text: time(line.timestamp) }),
      chip("level", line.level || "info"),
      chip("stream", line.stream || ""),
      line.component ? chip("component", line.component) : null,
      chip("event", line.event, line.event),
      op ? DF.el("span", { class: "op" }, [chip("op", op, "op " + op.slice(0, 12)),
        DF.el("a", { href: "/operations/" + encodeURIComponent(op), title: "Timeline of " + op, "aria-label": "Timeline of operation " + op, text: "⏱" })]) : null,
      DF.el("span", { class: "fields" }, fields),
    ]);
  }

  function add(lines, atTop) {
    const nodes = [];
    for (const line of lines) {
      if (shown.has(line._id)) continue;
      shown.add(line._id);
      nodes.push(row(line));
    }
    if (atTop) list.prepend(...nodes.reverse());
    else list.append(...nodes);
    while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
  }

  function matches(line, f) {
    if (f.level && LEVELS.indexOf(line.level) < LEVELS.indexOf(f.level)) return false;
    if (f.stream && line.stream !== f.stream) return false;
    if (f.component && line.component !== f.component) return false;
    if (f.op && line.operation_id !== f.op) return false;
    if (f.since && new Date(line.timestamp) < new Date(f.since)) return false;
    if (f.q) {
      const hay = JSON.stringify(line).toLowerCase();
      const terms = f.q.toLowerCase().match(/"[^"]*"|\S+/g) || [];
      for (const term of terms) {
        const word = term.replace(/^"|"\*?$/g, "").replace(/\*$/, "");
        if (word && !hay.includes(word)) return false;
      }
    }
    return true;
  }

  function ownRead(line) {
    // The dashboard's own reads (this page's polling among them) would flood the tail.
    return line.event === "web.access" && line.decision === "ok" && line.method === "GET";
  }

  async function drawHistogram() {
    const f = filters();
    const extra = { buckets: "60" };
    try {
      const body = await DF.json("/api/v1/logs/histogram?" + query(extra));
      const xs = body.starts.map((s) => new Date(s).getTime() / 1000);
      const node = document.getElementById("histogram");
      const data = [xs, body.counts];
      if (!histogram) {
        histogram = DFCharts.make(node, [{ label: "lines", bars: true }], data, { height: 140 });
        node._chart = histogram;
      } else DFCharts.update(histogram, data);
      node.dataset.total = String(body.total);
      document.getElementById("volume-total").textContent =
        "(" + body.total + " lines" + (f.since || f.until ? "" : " in the last 15 min") + ")";
    } catch (error) {
      DF.showError(errorBox, "Histogram: " + error.message);
    }
  }

  async function load() {
    const mine = ++generation;
    const f = filters();
    history.replaceState(null, "", location.pathname + (Object.keys(f).length ? "?" + query() : ""));
    DF.showError(errorBox, null);
    try {
      const start = await DF.json("/api/v1/logs/tail?limit=1");
      const body = await DF.json("/api/v1/logs?" + query({ limit: "200" }));
      if (mine !== generation) return;
      list.textContent = "";
      shown = new Set();
      add(body.lines, false);
      cursor = body.next_cursor;
      older.hidden = !cursor;
      tailFrom = start.last_id === null || start.last_id === undefined ? 0 : start.last_id;
    } catch (error) {
      DF.showError(errorBox, error.message);
    }
    drawHistogram();
  }

  async function loadOlder() {
    if (!cursor) return;
    try {
      const body = await DF.json("/api/v1/logs?" + query({ limit: "200", cursor: cursor }));
      add(body.lines, false);
      cursor = body.next_cursor;
      older.hidden = !cursor;
    } catch (error) {
      DF.showError(errorBox, error.message);
    }
  }

  async function follow() {
    const f = filters();
    if (!paused && tailFrom !== null && !f.until) {
      const mine = generation;
      try {
        const body = await DF.json("/api/v1/logs/tail?limit=1000&after=" + tailFrom);
        if (mine === generation) {
          if (body.last_id !== null && body.last_id !== undefined) tailFrom = body.last_id;
          const fresh = body.lines.filter((line) => matches(line, f) && !ownRead(line));
          if (fresh.length) {
            add(fresh, true);
            histogramDue = Math.min(histogramDue || Infinity, Date.now() + 1000);
          }
        }
      } catch (error) { /* the next poll tries again */ }
    }
    if (histogramDue && Date.now() >= histogramDue && !paused) {
      histogramDue = 0;
      drawHistogram();
    }
    setTimeout(follow, 400);
  }

  function setPaused(value) {
    paused = value;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
    state.textContent = paused ? "paused" : "live";
    state.classList.toggle("paused", paused);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  document.getElementById("clear-filters").addEventListener("click", () => {
    for (const name of FILTERS) form.elements[name].value = "";
    load();
  });
  pause.addEventListener("click", () => setPaused(!paused));
  older.addEventListener("click", loadOlder);
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button.field");
    if (!button) return;
    const { filter, value } = button.dataset;
    if (filter === "event" || filter === "text") {
      const phrase = '"' + value.replace(/"/g, " ") + '"';
      const q = form.elements.q.value.trim();
      form.elements.q.value = q ? q + " " + phrase : phrase;
    } else {
      form.elements[filter].value = value;
    }
    load();
  });

  document.addEventListener("DOMContentLoaded", () => {
    load();
    setInterval(() => { if (!paused) histogramDue = histogramDue || Date.now() + 10000; }, 10000);
    follow();
  });
})();
