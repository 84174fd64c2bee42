// Draws the dashboard's charts with Chart.js (loaded before this file). Each chart is a
// <canvas data-chart="ID"> beside <script type="application/json" id="ID"> holding
//   {"type": "bar" | "doughnut", "label": "...", "labels": [...], "values": [...], "links": [...],
//    "counts": true when the values are counts rather than amounts}
// A click on a bar or slice opens the list behind it; the same links are in the table that
// every chart carries as its text alternative, for keyboards and screen readers.
(() => {
  const palette = ["#5b5bd6", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#64748b", "#14b8a6"];

  function draw(canvas) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source || !window.Chart) return;
    const spec = JSON.parse(source.textContent);
    const isBar = spec.type === "bar";
    const colors = isBar ? spec.values.map(() => palette[0]) : spec.values.map((_, i) => palette[i % palette.length]);
    const chart = new window.Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: [{
          label: spec.label,
          data: spec.values,
          backgroundColor: colors,
          hoverBackgroundColor: colors,
          borderRadius: isBar ? 4 : 0,
          maxBarThickness: 48,
        }],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: { legend: { display: !isBar, position: "bottom" } },
        // Counts are whole numbers: no 0.5 lead on the axis.
        scales: isBar ? { x: { ticks: { autoSkip: true } }, y: { beginAtZero: true, ticks: { precision: spec.counts ? 0 : undefined } } } : {},
        onClick: (_event, elements) => {
          const link = elements.length ? spec.links[elements[0].index] : null;
          if (link) window.location.assign(link);
        },
        onHover: (event, elements) => {
          event.native.target.style.cursor = elements.length && spec.links[elements[0].index] ? "pointer" : "default";
        },
      },
    });
    canvas.dataset.drawn = "true";
    return chart;
  }

  function drawAll() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
