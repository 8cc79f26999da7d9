/* The drift of every environment, from GET /api/v1/drift; "drift unavailable" when the
   server has no such endpoint (404) or it fails. The latest verification suite results, from
   GET /api/v1/verification: one row per check (data-testid="<suite>-check", with
   data-check-id and data-result). */
(function () {
  "use strict";
  const box = document.getElementById("drift");

  function entry(d) {
    const state = d.error ? "error" : d.in_sync === true ? "in sync" : d.in_sync === false ? "drifted" : "unknown";
    const changes = (d.changes || []).map((c) =>
      DF.el("tr", {}, [DF.el("td", { text: c.database }), DF.el("td", { text: c.action }), DF.el("td", { text: c.detail })]));
    return DF.el("article", { class: "drift-entry", "data-testid": "drift-entry", dataset: { workspace: d.workspace, env: d.env } }, [
      DF.el("h3", {}, [d.workspace + " · " + d.env + " ",
        DF.el("span", { class: "badge drift-" + state.replace(" ", "-"), "data-testid": "drift-state", text: state })]),
      DF.el("p", { class: "muted", text: d.checked_at ? "checked " + d.checked_at : "never checked" }),
      d.error ? DF.el("p", { class: "error", role: "alert", text: d.error }) : null,
      changes.length ? DF.el("table", {}, [
        DF.el("thead", {}, DF.el("tr", {}, [DF.el("th", { scope: "col", text: "Database" }), DF.el("th", { scope: "col", text: "Change" }), DF.el("th", { scope: "col", text: "Detail" })])),
        DF.el("tbody", {}, changes)]) : null,
    ]);
  }

  async function load() {
    let body;
    try {
      body = await DF.json("/api/v1/drift");
    } catch (error) {
      box.replaceChildren(DF.el("p", { class: "muted", "data-testid": "drift-unavailable",
        text: "drift unavailable" + (error.status === 404 ? "" : ": " + error.message) }));
      return;
    }
    const items = (body && body.drift) || [];
    box.replaceChildren(...(items.length ? items.map(entry)
      : [DF.el("p", { class: "muted", "data-testid": "drift-none", text: "No environments to check." })]));
  }

  const checksBox = document.getElementById("verification");
  const RESULT_CLASS = { pass: "decision-allow", fail: "decision-deny", error: "decision-deny", skipped: "" };

  function badge(result, testid) {
    return DF.el("span", { class: "badge check-" + result + " " + (RESULT_CLASS[result] || ""), "data-testid": testid, text: result });
  }

  function run(v) {
    if (v.error) return DF.el("p", { class: "error", role: "alert", text: v.file + ": " + v.error });
    const s = v.summary || {};
    const rows = (v.checks || []).map((c) =>
      DF.el("tr", { "data-testid": (v.suite || "suite") + "-check", dataset: { checkId: c.id, result: c.result } }, [
        DF.el("td", {}, DF.el("code", { text: c.id })), DF.el("td", { text: c.description }),
        DF.el("td", {}, badge(c.result, "check-result")), DF.el("td", { text: c.detail })]));
    return DF.el("article", { class: "verification-run", "data-testid": "verification-run", dataset: { suite: v.suite, workspace: v.workspace, env: v.environment } }, [
      DF.el("h3", {}, [(v.suite || "?").toUpperCase() + " · " + v.workspace + " · " + v.environment + " ", badge(v.result || "?", "verification-result")]),
      DF.el("p", { class: "muted", text: "ran " + (v.started || "?") + " on " + (v.target || "?") + " — " +
        (s.pass || 0) + " passed, " + (s.fail || 0) + " failed, " + (s.error || 0) + " errors, " + (s.skipped || 0) + " skipped" }),
      DF.el("table", {}, [
        DF.el("thead", {}, DF.el("tr", {}, ["Check", "Description", "Result", "Detail"].map((t) => DF.el("th", { scope: "col", text: t })))),
        DF.el("tbody", {}, rows)]),
    ]);
  }

  async function loadChecks() {
    let body;
    try {
      body = await DF.json("/api/v1/verification");
    } catch (error) {
      checksBox.replaceChildren(DF.el("p", { class: "muted", "data-testid": "verification-unavailable",
        text: "verification results unavailable: " + error.message }));
      return;
    }
    const items = (body && body.verification) || [];
    checksBox.replaceChildren(...(items.length ? items.map(run)
      : [DF.el("p", { class: "muted", "data-testid": "verification-none", text: "No suite has run yet (devfactory verify SPEC --suite ndb)." })]));
  }

  document.addEventListener("DOMContentLoaded", load);
  document.addEventListener("DOMContentLoaded", loadChecks);
})();
