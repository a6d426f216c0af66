import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { align, type Line } from "./align";

export type { Line };

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

const PALETTE = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#a21caf", "#334155"];

/** MultiChart draws several series over time (one per variant), with a legend. */
export function MultiChart({ title, lines, height = 180 }: { title: string; lines: Line[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const names = lines.map((l) => l.label).join("\u0000");
  useEffect(() => {
    const el = box.current!;
    const u = new uPlot(
      {
        width: el.clientWidth || 300,
        height,
        legend: { show: true, live: false },
        series: [{}, ...lines.map((l, i) => ({ label: l.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }))],
        axes: [{}, { size: 60 }],
      },
      align(lines) as uPlot.AlignedData,
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
    // Rebuilt only when the set of series changes; data updates below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [names, height]);
  useEffect(() => {
    plot.current?.setData(align(lines) as uPlot.AlignedData);
  }, [lines]);
  return <div ref={box} className="chart" role="img" aria-label={`${title} over time for ${lines.map((l) => l.label).join(", ")}`} />;
}
