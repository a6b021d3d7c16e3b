// The ids a person pastes or imports to watch: one a line, or a CSV whose header names an
// `externalId` column (as `kyc-monitor watch --from-csv` takes it). Empty lines are skipped;
// the monitor checks each id. Tested in watch.test.ts.

function fields(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') {
      field += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ',' && !quoted) {
      out.push(field);
      field = '';
    } else {
      field += c;
    }
  }
  out.push(field);
  return out;
}

export function idsToWatch(text: string): string[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const first = lines[0];
  if (first === undefined) return [];
  const header = fields(first).map((name) => name.trim());
  const column = header.indexOf('externalId');
  const rows = column >= 0 ? lines.slice(1) : lines;
  return rows.map((line) => (fields(line)[Math.max(column, 0)] ?? '').trim());
}
