// Draws the Finance page's charts with Chart.js (loaded before this file). Each chart is a
// <canvas data-finance-chart="ID">; the page's <script type="application/json"
// id="finance-charts"> holds every chart's data by ID:
//   {"type": "line" | "bar", "labels": [...], "datasets": [{"label": "...", "values": [...]}],
//    "stacked": true for stacked bars, "percent": true for shares, "counts": true for counts,
//    "unit": the currency of amounts}
// Each chart's figures are also in the table beside it, for keyboards and screen readers.
(() => {
  const palette = ["#5b5bd6", "#10b981", "#f59e0b", "#ef4444", "#0ea5e9", "#8b5cf6", "#64748b", "#14b8a6"];

  function draw(canvas, specs) {
    const spec = specs[canvas.dataset.financeChart];
    if (!spec || !window.Chart) return;
    const isBar = spec.type === "bar";
    const tick = spec.percent ? (value) => `${value}%` : undefined;
    new window.Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((dataset, i) => ({
          label: dataset.label,
          data: dataset.values,
          backgroundColor: palette[i % palette.length],
          borderColor: palette[i % palette.length],
          borderRadius: isBar ? 3 : 0,
          maxBarThickness: 40,
          spanGaps: true,
          tension: 0.2,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: spec.datasets.length > 1, position: "bottom" } },
        scales: {
          x: { stacked: Boolean(spec.stacked), ticks: { autoSkip: true } },
          y: {
            stacked: Boolean(spec.stacked),
            beginAtZero: true,
            ticks: { precision: spec.counts ? 0 : undefined, callback: tick },
            title: { display: Boolean(spec.unit), text: spec.unit || "" },
          },
        },
      },
    });
    canvas.dataset.drawn = "true";
  }

  function drawAll() {
    const source = document.getElementById("finance-charts");
    if (!source) return;
    const specs = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-finance-chart]").forEach((canvas) => draw(canvas, specs));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
