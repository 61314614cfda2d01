// XLSX contact import: fflate unzips (synchronously: its async path spawns blob: workers,
// which the app's CSP refuses), the browser's DOMParser reads the XML. Only the first sheet
// in workbook order, as plain text cells: enough for a contact list. Loaded on demand.
import { unzipSync, strFromU8 } from 'fflate';

const MAIN = 'xl/workbook.xml';

function xml(files: Record<string, Uint8Array>, path: string): Document | null {
  const bytes = files[path];
  if (!bytes) return null;
  const doc = new DOMParser().parseFromString(strFromU8(bytes), 'application/xml');
  if (doc.getElementsByTagName('parsererror').length) throw new Error(`${path} is not valid XML`);
  return doc;
}

/** Elements by local name, whatever prefix the writer used. */
function all(node: Document | Element, name: string): Element[] {
  return Array.from(node.getElementsByTagNameNS('*', name));
}

/** The text of a string item: plain or rich-text runs, without phonetic hints (rPh). */
function itemText(el: Element): string {
  return all(el, 't')
    .filter((t) => t.parentElement?.localName !== 'rPh')
    .map((t) => t.textContent ?? '')
    .join('');
}

/** "BC12" → 54 (zero-based column). */
function columnOf(ref: string): number {
  let n = 0;
  for (const ch of ref.replace(/[^A-Z]/gi, '').toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/** The first worksheet's path, following workbook.xml and its relationships. */
function firstSheetPath(files: Record<string, Uint8Array>): string {
  const book = xml(files, MAIN);
  const rels = xml(files, 'xl/_rels/workbook.xml.rels');
  const rid = book && all(book, 'sheet')[0]?.getAttributeNS('http://schemas.openxmlformats.org/officeDocument/2006/relationships', 'id');
  const target = rid && rels ? all(rels, 'Relationship').find((r) => r.getAttribute('Id') === rid)?.getAttribute('Target') : null;
  if (target) return target.startsWith('/') ? target.slice(1) : `xl/${target}`;
  const guess = Object.keys(files).filter((k) => /^xl\/worksheets\/[^/]+\.xml$/.test(k)).sort()[0];
  if (!guess) throw new Error('no worksheet in this file');
  return guess;
}

/** Rows of text cells of the first sheet; blank rows are dropped. */
export function readXlsxRows(buf: ArrayBuffer): string[][] {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(new Uint8Array(buf), { filter: (f) => f.name.endsWith('.rels') || (f.name.startsWith('xl/') && f.name.endsWith('.xml')) });
  } catch {
    throw new Error('not an XLSX file');
  }
  if (!files[MAIN]) throw new Error('not an XLSX file');
  const ss = xml(files, 'xl/sharedStrings.xml');
  const shared = ss ? all(ss, 'si').map(itemText) : [];
  const sheet = xml(files, firstSheetPath(files));
  if (!sheet) throw new Error('the first worksheet is missing');
  const rows: string[][] = [];
  for (const row of all(sheet, 'row')) {
    const out: string[] = [];
    for (const c of all(row, 'c')) {
      const v = all(c, 'v')[0]?.textContent ?? '';
      const type = c.getAttribute('t');
      let text: string;
      if (type === 's') text = shared[Number(v)] ?? '';
      else if (type === 'inlineStr') text = all(c, 'is').map(itemText).join('');
      else if (type === 'b') text = v === '1' ? 'TRUE' : 'FALSE';
      // A phone typed as a number may be stored as 1.5551230009E10.
      else if ((type === null || type === 'n') && /e/i.test(v) && Number.isFinite(Number(v))) text = String(Number(v));
      else text = v;
      const ref = c.getAttribute('r');
      const i = ref ? columnOf(ref) : out.length;
      while (out.length < i) out.push('');
      out[i] = text;
    }
    if (out.some((x) => x.trim())) rows.push(out);
  }
  return rows;
}
