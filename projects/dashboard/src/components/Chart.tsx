import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

/** TimeChart draws one series over time with uPlot; it resizes with its box. */
export function TimeChart({ label, xs, ys, height = 160 }: { label: string; xs: number[]; ys: number[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = box.current!;
    const u = new uPlot(
      {
        width: el.clientWidth || 300,
        height,
        legend: { show: false },
        series: [{}, { label, stroke: "#2563eb", width: 2, fill: "rgba(37,99,235,0.08)" }],
        axes: [{}, { size: 60 }],
      },
      [[], []],
      el,
    );
    plot.current = u;
    const ro = typeof ResizeObserver !== "undefined" ? new ResizeObserver(() => u.setSize({ width: el.clientWidth, height })) : null;
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [label, height]);
  useEffect(() => {
    plot.current?.setData([xs, ys]);
  }, [xs, ys]);
  return <div ref={box} className="chart" role="img" aria-label={`${label} over time`} />;
}
