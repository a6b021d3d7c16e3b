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
  return watchList(text).ids;
}

/** The ids to watch and, for each, its line in `text` (1-based), to name where a bad one is. */
export function watchList(text: string): { ids: string[]; lines: number[] } {
  const lines = text
    .split(/\r?\n/)
    .map((line, index) => ({ line, number: index + 1 }))
    .filter(({ line }) => line.trim() !== '');
  const first = lines[0];
  if (first === undefined) return { ids: [], lines: [] };
  const header = fields(first.line).map((name) => name.trim());
  const column = header.indexOf('externalId');
  const rows = column >= 0 ? lines.slice(1) : lines;
  return {
    ids: rows.map(({ line }) => (fields(line)[Math.max(column, 0)] ?? '').trim()),
    lines: rows.map(({ number }) => number),
  };
}

/** The monitor's refusal of the n-th id ("externalIds[n]: ...") said of its line in `from`
 * (the file's name, or the pasted text); another refusal as it is. */
export function refusalAtLine(message: string, lines: number[], from: string): string {
  const found = /^externalIds\[(\d+)\]: (.*)$/s.exec(message);
  const line = found ? lines[Number(found[1])] : undefined;
  if (!found || line === undefined) return message;
  return `${from}, line ${line}: ${found[2]}. Nothing was watched.`;
}
