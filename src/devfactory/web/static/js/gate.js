/* The gate page's chart: decisions per time slice, from the JSON the page embeds. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const data = JSON.parse(document.getElementById("gate-data").textContent);
    const xs = data.starts.map((s) => new Date(s).getTime() / 1000);
    const names = ["allow", "halt", "deny"];
    const colors = { allow: "#188038", halt: "#e37400", deny: "#d93025" };
    const node = document.getElementById("gate-chart");
    node._chart = DFCharts.make(
      node,
      names.map((n) => ({ label: n, color: colors[n] })),
      [xs].concat(names.map((n) => data.series[n] || xs.map(() => 0)))
    );
  });
})();
