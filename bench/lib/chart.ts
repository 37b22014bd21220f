/**
 * Latency percentile chart as a self-contained SVG: one panel per store
 * mode, the percentile on a log scale of 1 / (1 − p) so the tail gets room,
 * and the latency in ms on a linear scale.
 */

export interface Series {
  label: string;
  color: string;
  /** Dashed lines for baselines. */
  dashed: boolean;
  points: { p: number; ms: number }[];
}

export interface Panel {
  title: string;
  series: Series[];
}

const PANEL_WIDTH = 460;
const PANEL_HEIGHT = 380;
const MARGIN = { top: 95, right: 20, bottom: 60, left: 62 };
const GAP = 40;
const X_TICKS = [0, 50, 90, 99, 99.9];
const MAX_LOG_X = 3;

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!,
  );
}

function xOf(p: number): number {
  return Math.min(MAX_LOG_X, Math.log10(100 / (100 - Math.min(p, 99.9))));
}

/** Returns a round upper bound for the axis: 1, 2 or 5 times a power of ten. */
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function renderPanel(panel: Panel, offsetX: number): string {
  const width = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const height = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const left = offsetX + MARGIN.left;
  const top = MARGIN.top;
  const maxMs = niceCeiling(
    Math.max(
      0,
      ...panel.series.flatMap((series) =>
        series.points.map((point) => point.ms).filter(Number.isFinite),
      ),
    ),
  );
  const px = (p: number) => left + (xOf(p) / MAX_LOG_X) * width;
  const py = (ms: number) => top + height - (ms / maxMs) * height;
  const parts: string[] = [];

  parts.push(
    `<text x="${left + width / 2}" y="${top - 45}" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(panel.title)}</text>`,
  );

  // Horizontal grid lines and y labels, then vertical ones at the percentile ticks.
  for (let i = 0; i <= 5; i++) {
    const ms = (maxMs * i) / 5;
    const y = py(ms);
    parts.push(
      `<line x1="${left}" x2="${left + width}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`,
    );
    parts.push(
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end" font-size="11">${Number(ms.toPrecision(3))}</text>`,
    );
  }
  for (const p of X_TICKS) {
    const x = px(p);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + height}" stroke="#e3e3e3"/>`,
    );
    parts.push(
      `<text x="${x}" y="${top + height + 18}" text-anchor="middle" font-size="11">p${p}</text>`,
    );
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#888"/>`,
    `<text x="${left + width / 2}" y="${top + height + 40}" text-anchor="middle" font-size="12">percentile</text>`,
    `<text transform="translate(${offsetX + 16} ${top + height / 2}) rotate(-90)" text-anchor="middle" font-size="12">send to receive (ms)</text>`,
  );

  // One line per series, and its legend entry above the plot.
  panel.series.forEach((series, index) => {
    const points = series.points
      .filter((point) => Number.isFinite(point.ms))
      .map((point) => `${px(point.p).toFixed(1)},${py(point.ms).toFixed(1)}`)
      .join(" ");
    parts.push(
      `<polyline points="${points}" fill="none" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
    const legendY = top - 18;
    const legendX = left + index * (width / Math.max(1, panel.series.length));
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 22}" y1="${legendY}" y2="${legendY}" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${legendX + 27}" y="${legendY + 4}" font-size="11">${escapeXml(series.label)}</text>`,
    );
  });
  return parts.join("\n");
}

/** Renders the panels side by side with a title and a footnote line. */
export function renderLatencyChart(
  title: string,
  footnote: string,
  panels: Panel[],
): string {
  const width = panels.length * PANEL_WIDTH + (panels.length - 1) * GAP;
  const height = PANEL_HEIGHT + 30;
  const body = panels
    .map((panel, i) => renderPanel(panel, i * (PANEL_WIDTH + GAP)))
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${width / 2}" y="22" text-anchor="middle" font-size="17" font-weight="600">${escapeXml(title)}</text>
${body}
<text x="${width / 2}" y="${height - 8}" text-anchor="middle" font-size="11" fill="#555">${escapeXml(footnote)}</text>
</svg>
`;
}
