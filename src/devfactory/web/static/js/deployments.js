/* The drift of every environment, from GET /api/v1/drift; "drift unavailable" when the
   server has no such endpoint (404) or it fails. */
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

  document.addEventListener("DOMContentLoaded", load);
})();
