/**
 * Export a panel's diagram as a standalone SVG or PNG file.
 *
 * - `exportSvg` / `exportPng` take an <svg>: the clone gets the computed
 *   presentation styles (fill, stroke, fonts…) inlined, so the file renders
 *   without the app's stylesheet.
 * - `exportElementAsSvg` / `exportElementAsPng` take an HTML element (a panel
 *   made of tables and grids) and wrap a style-inlined clone of it in an SVG
 *   <foreignObject>.
 *
 * Everything happens in the page; nothing is sent anywhere.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';
const XHTML_NS = 'http://www.w3.org/1999/xhtml';
const XLINK_NS = 'http://www.w3.org/1999/xlink';

/** Presentation properties copied onto SVG elements. */
const SVG_PROPS = [
  'fill',
  'fill-opacity',
  'fill-rule',
  'stroke',
  'stroke-width',
  'stroke-opacity',
  'stroke-dasharray',
  'stroke-dashoffset',
  'stroke-linecap',
  'stroke-linejoin',
  'opacity',
  'color',
  'font-family',
  'font-size',
  'font-weight',
  'font-style',
  'text-anchor',
  'dominant-baseline',
  'alignment-baseline',
  'letter-spacing',
  'visibility',
  'display',
  'paint-order',
  'shape-rendering',
];

/** Properties copied onto HTML elements inside a <foreignObject>. */
const HTML_PROPS = [
  'display',
  'position',
  'top',
  'right',
  'bottom',
  'left',
  'box-sizing',
  'width',
  'min-width',
  'max-width',
  'min-height',
  'margin-top',
  'margin-right',
  'margin-bottom',
  'margin-left',
  'padding-top',
  'padding-right',
  'padding-bottom',
  'padding-left',
  'border-top-width',
  'border-right-width',
  'border-bottom-width',
  'border-left-width',
  'border-top-style',
  'border-right-style',
  'border-bottom-style',
  'border-left-style',
  'border-top-color',
  'border-right-color',
  'border-bottom-color',
  'border-left-color',
  'border-top-left-radius',
  'border-top-right-radius',
  'border-bottom-left-radius',
  'border-bottom-right-radius',
  'border-collapse',
  'border-spacing',
  'background-color',
  'background-image',
  'background-size',
  'background-position',
  'background-repeat',
  'color',
  'opacity',
  'font-family',
  'font-size',
  'font-weight',
  'font-style',
  'font-variant-numeric',
  'line-height',
  'letter-spacing',
  'text-align',
  'text-decoration-line',
  'text-decoration-style',
  'text-transform',
  'text-overflow',
  'white-space',
  'word-break',
  'overflow-wrap',
  'vertical-align',
  'flex-direction',
  'flex-wrap',
  'flex-grow',
  'flex-shrink',
  'flex-basis',
  'justify-content',
  'align-items',
  'align-self',
  'align-content',
  'gap',
  'row-gap',
  'column-gap',
  'grid-template-columns',
  'grid-template-rows',
  'grid-column-start',
  'grid-column-end',
  'grid-row-start',
  'grid-row-end',
  'grid-auto-flow',
  'list-style-type',
  'list-style-position',
  'table-layout',
  'caption-side',
  'outline-style',
  'outline-width',
  'outline-color',
  'box-shadow',
  'visibility',
  'fill',
  'stroke',
  'stroke-width',
  'stroke-dasharray',
  'text-anchor',
  'dominant-baseline',
];

function copyStyles(src: Element, dst: Element): void {
  const cs = getComputedStyle(src);
  const props = src instanceof SVGElement && !(src instanceof SVGForeignObjectElement) ? SVG_PROPS : HTML_PROPS;
  const parts: string[] = [];
  for (const p of props) {
    const v = cs.getPropertyValue(p);
    if (v !== '') parts.push(`${p}:${v}`);
  }
  // Heights and scrolling are left out on purpose: the file shows the whole content, not a scrolled window.
  if (props === HTML_PROPS) parts.push('overflow:visible');
  dst.setAttribute('style', parts.join(';'));
  // Interactive-only attributes make no sense in a file.
  dst.removeAttribute('class');
  dst.removeAttribute('tabindex');
}

/** Clone `el` with every descendant's computed style inlined. */
function cloneWithStyles<T extends Element>(el: T): T {
  const clone = el.cloneNode(true) as T;
  const srcAll = [el, ...Array.from(el.querySelectorAll('*'))];
  const dstAll = [clone, ...Array.from(clone.querySelectorAll('*'))];
  for (let i = 0; i < srcAll.length && i < dstAll.length; i++) copyStyles(srcAll[i], dstAll[i]);
  // Form controls: carry the current value into the markup.
  const srcInputs = el.querySelectorAll('input, select, textarea');
  const dstInputs = clone.querySelectorAll('input, select, textarea');
  srcInputs.forEach((s, i) => {
    const d = dstInputs[i];
    if (!d) return;
    if (s instanceof HTMLInputElement) d.setAttribute('value', s.value);
    else if (s instanceof HTMLTextAreaElement) d.textContent = s.value;
  });
  return clone;
}

/** The first non-transparent background colour at or above `el` (for a readable standalone file). */
function backgroundOf(el: Element): string {
  for (let e: Element | null = el; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor;
    if (bg && bg !== 'transparent' && !/^rgba\(.*,\s*0\)$/.test(bg)) return bg;
  }
  return getComputedStyle(document.body).backgroundColor || '#ffffff';
}

function sizeOf(el: Element): { width: number; height: number } {
  const r = el.getBoundingClientRect();
  const w = Math.max(1, Math.ceil(Math.max(r.width, (el as HTMLElement).scrollWidth ?? 0)));
  const h = Math.max(1, Math.ceil(Math.max(r.height, (el as HTMLElement).scrollHeight ?? 0)));
  return { width: w, height: h };
}

function safeName(filename: string, ext: string): string {
  const base = filename.replace(/\.(svg|png)$/i, '').replace(/[^\w.-]+/g, '-') || 'export';
  return `${base}.${ext}`;
}

function download(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Serialise an <svg> to a standalone SVG document string (styles inlined, xmlns set). */
export function serializeSvg(svgEl: SVGSVGElement): { text: string; width: number; height: number } {
  const { width, height } = sizeOf(svgEl);
  const clone = cloneWithStyles(svgEl);
  clone.setAttribute('xmlns', SVG_NS);
  clone.setAttribute('xmlns:xlink', XLINK_NS);
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  if (!clone.getAttribute('viewBox')) clone.setAttribute('viewBox', `0 0 ${width} ${height}`);
  // A background so a dark-mode export stays readable on its own.
  const vb = clone.getAttribute('viewBox')!.split(/[\s,]+/).map(Number);
  const bg = document.createElementNS(SVG_NS, 'rect');
  bg.setAttribute('x', String(vb[0] || 0));
  bg.setAttribute('y', String(vb[1] || 0));
  bg.setAttribute('width', String(vb[2] || width));
  bg.setAttribute('height', String(vb[3] || height));
  bg.setAttribute('fill', backgroundOf(svgEl));
  clone.insertBefore(bg, clone.firstChild);
  const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
  return { text, width, height };
}

/** Wrap an HTML element in an SVG <foreignObject> (styles inlined). */
export function serializeElementAsSvg(el: HTMLElement): { text: string; width: number; height: number } {
  const { width, height } = sizeOf(el);
  const clone = cloneWithStyles(el);
  clone.setAttribute('xmlns', XHTML_NS);
  // Show the whole content, not the scrolled window of it.
  clone.style.overflow = 'visible';
  clone.style.width = `${width}px`;
  clone.style.height = `${height}px`;
  clone.style.margin = '0';
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('xmlns', SVG_NS);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const bg = document.createElementNS(SVG_NS, 'rect');
  bg.setAttribute('width', String(width));
  bg.setAttribute('height', String(height));
  bg.setAttribute('fill', backgroundOf(el));
  svg.appendChild(bg);
  const fo = document.createElementNS(SVG_NS, 'foreignObject');
  fo.setAttribute('x', '0');
  fo.setAttribute('y', '0');
  fo.setAttribute('width', String(width));
  fo.setAttribute('height', String(height));
  fo.appendChild(clone);
  svg.appendChild(fo);
  const text = '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
  return { text, width, height };
}

async function svgTextToPng(text: string, width: number, height: number, scale: number): Promise<Blob> {
  // A data: URL (not a blob: URL) keeps foreignObject content from tainting the canvas in Chromium.
  const url = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(text);
  const img = new Image();
  img.decoding = 'async';
  await new Promise<void>((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error('the SVG could not be rendered as an image'));
    img.src = url;
  });
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas context');
  ctx.scale(scale, scale);
  ctx.drawImage(img, 0, 0, width, height);
  return new Promise<Blob>((resolve, reject) => {
    try {
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the canvas could not be encoded as PNG'))), 'image/png');
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** Download an <svg> as a standalone .svg file. */
export function exportSvg(svgEl: SVGSVGElement, filename: string): void {
  const { text } = serializeSvg(svgEl);
  download(new Blob([text], { type: 'image/svg+xml;charset=utf-8' }), safeName(filename, 'svg'));
}

/** Download an <svg> as a .png file, `scale` device pixels per CSS pixel. */
export async function exportPng(svgEl: SVGSVGElement, filename: string, scale = 2): Promise<void> {
  const { text, width, height } = serializeSvg(svgEl);
  const blob = await svgTextToPng(text, width, height, scale);
  download(blob, safeName(filename, 'png'));
}

/** Download an HTML element (a table, a grid) as an .svg file (via <foreignObject>). */
export function exportElementAsSvg(el: HTMLElement, filename: string): void {
  const { text } = serializeElementAsSvg(el);
  download(new Blob([text], { type: 'image/svg+xml;charset=utf-8' }), safeName(filename, 'svg'));
}

/** Download an HTML element as a .png file (via an SVG <foreignObject> drawn on a canvas). */
export async function exportElementAsPng(el: HTMLElement, filename: string, scale = 2): Promise<void> {
  const { text, width, height } = serializeElementAsSvg(el);
  const blob = await svgTextToPng(text, width, height, scale);
  download(blob, safeName(filename, 'png'));
}

/** Export whatever `el` is: an <svg> directly, anything else through <foreignObject>. */
export async function exportAny(el: Element, filename: string, format: 'svg' | 'png', scale = 2): Promise<void> {
  if (el instanceof SVGSVGElement) {
    if (format === 'svg') exportSvg(el, filename);
    else await exportPng(el, filename, scale);
  } else if (el instanceof HTMLElement) {
    if (format === 'svg') exportElementAsSvg(el, filename);
    else await exportElementAsPng(el, filename, scale);
  } else {
    throw new Error('nothing to export');
  }
}
