// The console's only script (no inline script: the CSP forbids it). Draws the 统计 charts from the JSON the page
// carries in data-charts; every page works without it.
(function () {
  "use strict";
  function draw() {
    var holder = document.getElementById("charts");
    if (!holder || typeof echarts === "undefined") { return; }
    var data = JSON.parse(holder.getAttribute("data-charts"));
    var common = { tooltip: { trigger: "axis" }, grid: { left: 40, right: 40, top: 30, bottom: 30 } };
    var monthly = echarts.init(document.getElementById("chart-monthly"));
    monthly.setOption(Object.assign({}, common, {
      legend: { data: ["再就业", "其中4050"] },
      xAxis: { type: "category", data: data.monthly.months }, yAxis: { type: "value", minInterval: 1 },
      series: [{ name: "再就业", type: "bar", data: data.monthly.reemployed },
               { name: "其中4050", type: "bar", data: data.monthly.r4050 }]
    }));
    var byType = echarts.init(document.getElementById("chart-type"));
    byType.setOption({ tooltip: { trigger: "item" }, series: [{ type: "pie", radius: ["35%", "65%"], data: data.by_type }] });
    var exp = echarts.init(document.getElementById("chart-export"));
    exp.setOption(Object.assign({}, common, {
      legend: { data: ["外出人数", "务工收入"] },
      xAxis: { type: "category", data: data.export.months },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value" }],
      series: [{ name: "外出人数", type: "bar", data: data.export.workers },
               { name: "务工收入", type: "line", yAxisIndex: 1, data: data.export.income }]
    }));
    window.addEventListener("resize", function () { monthly.resize(); byType.resize(); exp.resize(); });
    holder.setAttribute("data-drawn", "1");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
