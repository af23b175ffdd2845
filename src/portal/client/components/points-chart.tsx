import { useId, useLayoutEffect, useRef, useState } from "react";
import type { DailyPoints } from "../../../../gen/loyalty/v1/account_pb.js";
import { formatDay, formatNumber } from "../format.js";

/** The axis font size in CSS pixels (the SVG is drawn at its on-screen size, so it stays 12 px). */
const FONT = 12;
/** About how wide a digit or letter of the axis font is. */
const CHAR_W = 7.2;
/** A day label ("30 Nov") is about this wide, with room to breathe. */
const DAY_LABEL_W = 56;

/** The smallest "nice" number (1, 2, 5 × 10^n) at or above n. */
function niceCeil(n: number): number {
  if (n <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/** The width of the element, followed as it changes (a phone turned, a window resized). */
function useWidth<T extends HTMLElement>(fallback: number) {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(fallback);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(Math.floor(el.clientWidth) || fallback);
    const observer = new ResizeObserver(() => setWidth(Math.floor(el.clientWidth) || fallback));
    observer.observe(el);
    return () => observer.disconnect();
  }, [fallback]);
  return [ref, width] as const;
}

/**
 * Points issued and redeemed per day as an inline SVG bar chart, with the
 * same figures as a table for screen readers and for anyone who prefers
 * numbers.
 */
export function PointsChart({ daily }: { daily: DailyPoints[] }) {
  const [showTable, setShowTable] = useState(false);
  const tableId = useId();
  const [boxRef, W] = useWidth<HTMLDivElement>(720);
  const H = W < 500 ? 200 : 240;
  const max = niceCeil(Math.max(0, ...daily.map((d) => Math.max(d.issued, d.redeemed))));
  const ticks = [0, max / 2, max];
  // Room on the left for the longest axis figure, whole ("10,000,000").
  const PAD = { top: FONT, right: 4, bottom: FONT + 14, left: Math.ceil(Math.max(...ticks.map((t) => formatNumber(t).length)) * CHAR_W) + 8 };
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = daily.length ? plotW / daily.length : plotW;
  const barW = Math.max(1, slot / 2 - (slot > 8 ? 1.5 : 0.5));
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  // As many day labels as fit; counted from the last day, which always has its date.
  const labelEvery = Math.max(1, Math.ceil(daily.length / Math.max(1, Math.floor(plotW / DAY_LABEL_W))));
  const labelX = (center: number) => Math.min(Math.max(center, PAD.left + DAY_LABEL_W / 2 - 4), W - DAY_LABEL_W / 2 + 4);
  const issued = daily.reduce((s, d) => s + d.issued, 0);
  const redeemed = daily.reduce((s, d) => s + d.redeemed, 0);
  const summary = `Points per day over the last ${daily.length} days: ${formatNumber(issued)} issued and ${formatNumber(redeemed)} redeemed in total.`;

  return (
    <figure className="chart" data-testid="points-chart">
      <div ref={boxRef} className="chart-box">
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={summary} className="chart-svg">
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} className="chart-grid" />
            <text x={PAD.left - 6} y={y(t)} className="chart-axis" textAnchor="end" dominantBaseline="middle">
              {formatNumber(t)}
            </text>
          </g>
        ))}
        {daily.map((d, i) => {
          const x0 = PAD.left + i * slot + 1;
          return (
            <g key={d.date}>
              <rect x={x0} y={y(d.issued)} width={barW} height={Math.max(0, PAD.top + plotH - y(d.issued))} className="bar-issued">
                <title>{`${formatDay(d.date)}: ${formatNumber(d.issued)} issued`}</title>
              </rect>
              <rect
                x={x0 + barW + 1}
                y={y(d.redeemed)}
                width={barW}
                height={Math.max(0, PAD.top + plotH - y(d.redeemed))}
                className="bar-redeemed"
              >
                <title>{`${formatDay(d.date)}: ${formatNumber(d.redeemed)} redeemed`}</title>
              </rect>
              {(daily.length - 1 - i) % labelEvery === 0 ? (
                <text x={labelX(x0 + barW)} y={H - 6} className="chart-axis" textAnchor="middle" data-testid="chart-day-label">
                  {formatDay(d.date, { short: true })}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      </div>
      <figcaption className="chart-legend">
        <span className="legend-item">
          <span className="swatch swatch-issued" aria-hidden="true" /> Issued
        </span>
        <span className="legend-item">
          <span className="swatch swatch-redeemed" aria-hidden="true" /> Redeemed
        </span>
        <button type="button" className="link-button" aria-expanded={showTable} aria-controls={tableId} onClick={() => setShowTable((v) => !v)}>
          {showTable ? "Hide table" : "Show as table"}
        </button>
      </figcaption>
      <div id={tableId} hidden={!showTable} className="table-wrap">
        <table>
          <caption className="visually-hidden">Points issued and redeemed per day</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col" className="num">Issued</th>
              <th scope="col" className="num">Redeemed</th>
            </tr>
          </thead>
          <tbody>
            {daily.map((d) => (
              <tr key={d.date}>
                <td>{formatDay(d.date)}</td>
                <td className="num">{formatNumber(d.issued)}</td>
                <td className="num">{formatNumber(d.redeemed)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
