/* Draws the analytics page's charts with Chart.js (static/vendor) from the page's own JSON
   (#analytics[data-url]: the same filters). Each chart repeats a table that stays on the page. */
"use strict";

(() => {
  const root = document.getElementById("analytics");
  if (!root || typeof Chart === "undefined") return;
  const COLOURS = ["#0b5cad", "#7a5af5", "#1a7f37", "#b42318", "#8a4b00", "#0e7490", "#be185d", "#5b6878"];
  const colour = (i) => COLOURS[i % COLOURS.length];
  const options = (extra) => ({
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { position: "bottom" } },
    ...extra,
  });

  const times = (data, canvas) => {
    const { measure, grouping } = canvas.dataset;
    const rows = data.times[measure][grouping];
    return {
      type: "bar",
      data: {
        labels: data.bucket_labels,
        datasets: Object.keys(rows).map((key, i) => ({
          label: data.names[grouping][key],
          data: rows[key].buckets,
          backgroundColor: colour(i),
        })),
      },
      options: options({ scales: { y: { beginAtZero: true, title: { display: true, text: data.words.cases } } } }),
    };
  };

  const percent = (c) => (c.met_share === null ? null : Math.round(c.met_share * 1000) / 10);
  const compliance = (data, canvas) => {
    const { grouping } = canvas.dataset;
    const rows = data.compliance[grouping];
    const keys = Object.keys(rows);
    return {
      type: "bar",
      data: {
        labels: keys.map((key) => data.names[grouping][key]),
        datasets: ["accept", "report"].map((measure, i) => ({
          label: data.words[`${measure}_met`],
          data: keys.map((key) => percent(rows[key][measure])),
          backgroundColor: colour(i),
        })),
      },
      options: options({ scales: { y: { beginAtZero: true, max: 100 } } }),
    };
  };

  const reads = (data) => ({
    type: "bar",
    data: {
      labels: data.reads.map((r) => r.name),
      datasets: [{ label: data.words.reads, data: data.reads.map((r) => r.reads), backgroundColor: colour(0) }],
    },
    options: options({ indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }),
  });

  const CHARTS = { times, compliance, reads };

  fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}`))))
    .then((data) => {
      root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
        new Chart(canvas, CHARTS[canvas.dataset.chart](data, canvas));
      });
    })
    .catch(() => {
      /* The tables already say everything: without the charts, the page stays whole. */
      root.querySelectorAll(".chart-box").forEach((box) => box.remove());
    });
})();
