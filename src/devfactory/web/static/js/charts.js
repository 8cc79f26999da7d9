/* Small wrappers over the vendored uPlot (static/vendor/uplot): a line chart and a bar
   chart sized to their container. Exposes window.DFCharts. */
(function () {
  "use strict";
  const COLORS = ["#2f5bea", "#d93025", "#188038", "#e37400", "#8e24aa"];

  function size(node, height) {
    return { width: Math.max(node.clientWidth || 0, 280), height: height || 180 };
  }

  /* series: [{label, color?, bars?}]; data: [xs, ys1, ys2, ...] with xs in Unix seconds. */
  function make(node, series, data, options) {
    const opts = Object.assign(
      {
        ...size(node, options && options.height),
        series: [{}].concat(
          series.map((s, i) => ({
            label: s.label,
            stroke: s.color || COLORS[i % COLORS.length],
            fill: s.bars ? (s.color || COLORS[i % COLORS.length]) + "55" : undefined,
            width: s.bars ? 1 : 2,
            paths: s.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
            points: { show: !s.bars, size: 5 },
            spanGaps: false,
          }))
        ),
        axes: [{}, { size: 50 }],
        scales: { x: { time: true } },
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
      },
      options || {}
    );
    node.textContent = "";
    const chart = new uPlot(opts, data, node);
    node.dataset.ready = "true";
    return chart;
  }

  function update(chart, data) {
    chart.setData(data);
  }

  window.addEventListener("resize", () => {
    document.querySelectorAll(".chart").forEach((node) => {
      if (node._chart) node._chart.setSize(size(node, node._chart.height));
    });
  });

  window.DFCharts = { make, update };
})();
