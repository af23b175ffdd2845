import { useId, useState } from "react";
import type { DailyPoints } from "../../../../gen/loyalty/v1/account_pb.js";
import { formatNumber } from "../format.js";

const W = 720;
const H = 240;
const PAD = { top: 12, right: 8, bottom: 28, left: 44 };

/** The smallest "nice" number (1, 2, 5 × 10^n) at or above n. */
function niceCeil(n: number): number {
  if (n <= 0) return 10;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function shortDate(iso: string): string {
  const d = new Date(`${iso}T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
}

/**
 * Points issued and redeemed per day as an inline SVG bar chart, with the
 * same figures as a table for screen readers and for anyone who prefers
 * numbers.
 */
export function PointsChart({ daily }: { daily: DailyPoints[] }) {
  const [showTable, setShowTable] = useState(false);
  const tableId = useId();
  const max = niceCeil(Math.max(0, ...daily.map((d) => Math.max(d.issued, d.redeemed))));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = daily.length ? plotW / daily.length : plotW;
  const barW = Math.max(1, slot / 2 - 1.5);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const ticks = [0, max / 2, max];
  const labelEvery = Math.max(1, Math.ceil(daily.length / 6));
  const issued = daily.reduce((s, d) => s + d.issued, 0);
  const redeemed = daily.reduce((s, d) => s + d.redeemed, 0);
  const summary = `Points per day over the last ${daily.length} days: ${formatNumber(issued)} issued and ${formatNumber(redeemed)} redeemed in total.`;

  return (
    <figure className="chart" data-testid="points-chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} className="chart-svg">
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
                <title>{`${d.date}: ${formatNumber(d.issued)} issued`}</title>
              </rect>
              <rect
                x={x0 + barW + 1}
                y={y(d.redeemed)}
                width={barW}
                height={Math.max(0, PAD.top + plotH - y(d.redeemed))}
                className="bar-redeemed"
              >
                <title>{`${d.date}: ${formatNumber(d.redeemed)} redeemed`}</title>
              </rect>
              {i % labelEvery === 0 ? (
                <text x={x0 + barW} y={H - 8} className="chart-axis" textAnchor="middle">
                  {shortDate(d.date)}
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
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
                <td>{d.date}</td>
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
