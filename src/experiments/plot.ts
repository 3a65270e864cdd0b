/**
 * Plots for the experiment reports: a Vega-Lite spec compiled to Vega and rendered to SVG in Node
 * (no browser, no canvas: vega's headless SVG renderer), and the SVG rasterized to PNG by
 * resvg (WebAssembly build, no native addon). PNG text needs a font file: the first of FONT_FILES
 * that exists (Debian's fonts-dejavu-core); without one the PNG has no text and the SVG is the
 * figure of record.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { Resvg, initWasm } from '@resvg/resvg-wasm';

export const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf'];

export type Row = Record<string, string | number | boolean>;

export interface BarChart {
  title: string;
  rows: Row[];
  /** Category on the x axis, bars grouped by `color` within each category (xOffset). */
  x: string;
  y: string;
  color?: string;
  yTitle?: string;
  xTitle?: string;
  /** Value labels on the bars (default true; off when bars are many and narrow). */
  labels?: boolean;
}

export function barSpec(c: BarChart): vl.TopLevelSpec {
  // Categories and colours in the order the rows give them (not alphabetical).
  const order = (f: string): string[] => [...new Set(c.rows.map((r) => String(r[f])))];
  const colorSort = c.color ? order(c.color) : [];
  const bars = {
    mark: { type: 'bar' as const },
    encoding: {
      x: { field: c.x, type: 'nominal' as const, title: c.xTitle ?? c.x, axis: { labelAngle: 0 }, sort: order(c.x) },
      y: { field: c.y, type: 'quantitative' as const, title: c.yTitle ?? c.y },
      ...(c.color
        ? {
            color: { field: c.color, type: 'nominal' as const, sort: colorSort, legend: { labelLimit: 400 } },
            xOffset: { field: c.color, type: 'nominal' as const, sort: colorSort },
          }
        : {}),
    },
  };
  const labels = {
    mark: { type: 'text' as const, dy: -6, fontSize: 10 },
    encoding: {
      x: { field: c.x, type: 'nominal' as const, sort: order(c.x) },
      y: { field: c.y, type: 'quantitative' as const },
      text: { field: c.y, type: 'quantitative' as const },
      ...(c.color ? { xOffset: { field: c.color, type: 'nominal' as const, sort: colorSort } } : {}),
    },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: c.title,
    width: 520,
    height: 280,
    background: 'white',
    data: { values: c.rows },
    layer: c.labels === false ? [bars] : [bars, labels],
    config: { font: 'DejaVu Sans' },
  } as vl.TopLevelSpec;
}

export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

let wasmReady: Promise<void> | null = null;

export async function svgToPng(svg: string): Promise<Buffer> {
  if (wasmReady === null) {
    const req = createRequire(import.meta.url);
    wasmReady = initWasm(readFileSync(req.resolve('@resvg/resvg-wasm/index_bg.wasm')));
  }
  await wasmReady;
  const fontBuffers = FONT_FILES.filter((f) => existsSync(f)).map((f) => new Uint8Array(readFileSync(f)));
  const r = new Resvg(svg, {
    font: { fontBuffers, loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    fitTo: { mode: 'zoom', value: 2 },
  });
  const png = r.render().asPng();
  r.free();
  return Buffer.from(png);
}
