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

/** Whether a header cell names the column of ids: `externalId`, however spelt (`ExternalID`,
 * `external_id`, `external id`), lest a one-column file's header be watched as a user. */
export function namesExternalId(cell: string): boolean {
  return cell.toLowerCase().replace(/[^a-z0-9]/g, '') === 'externalid';
}

export function idsToWatch(text: string): string[] {
  return watchList(text).ids;
}

/** The ids to watch and, for each, its line in `text` (1-based), to name where a bad one is;
 * or why the text cannot be read as a list (`refusal`), as `watch --from-csv` refuses it: a
 * first line of several columns none named externalId (its header would be watched as an id),
 * or no id at all. */
export function watchList(text: string): { ids: string[]; lines: number[]; refusal?: string } {
  const lines = text
    .split(/\r?\n/)
    .map((line, index) => ({ line, number: index + 1 }))
    // A line of blanks is skipped, as an empty one is (a spreadsheet ends its export with
    // rows of empty cells, `,,`).
    .filter(({ line }) => fields(line).some((field) => field.trim() !== ''));
  const first = lines[0];
  const none = { ids: [], lines: [], refusal: 'it holds no id (nothing, or a header alone)' };
  if (first === undefined) return none;
  const header = fields(first.line).map((name) => name.trim());
  const column = header.findIndex(namesExternalId);
  if (column < 0 && header.length > 1) {
    const named = header.slice(0, 5).join(', ') + (header.length > 5 ? ', …' : '');
    return { ids: [], lines: [], refusal: `its first line has columns (${named}) but none is named externalId; name the column of ids externalId, or give one id a line` };
  }
  const rows = column >= 0 ? lines.slice(1) : lines;
  if (rows.length === 0) return none;
  return {
    ids: rows.map(({ line }) => (fields(line)[Math.max(column, 0)] ?? '').trim()),
    lines: rows.map(({ number }) => number),
  };
}

/** The most the UI API takes in one request (`UI_MAX_BODY`, 1 MiB). */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** Why a list is too long to send in one request from a browser, if it is (the window has no
 * such limit). */
export function tooLong(ids: string[], inBrowser: boolean): string | null {
  if (!inBrowser) return null;
  const bytes = new TextEncoder().encode(JSON.stringify({ externalIds: ids })).length;
  if (bytes <= MAX_REQUEST_BYTES) return null;
  return `${ids.length.toLocaleString()} ids are more than one import takes (${(bytes / (1024 * 1024)).toFixed(1)} MiB of the 1 MiB a request may be): import them in parts, or run kyc-monitor watch --from-csv FILE on the monitor's machine, which takes any number. Nothing was watched.`;
}

/** A file's bytes as text, or why they are not UTF-8 (a spreadsheet's "CSV" may be Latin-1:
 * read leniently, "café" would be watched as "caf\ufffd"). */
export function utf8Text(bytes: ArrayBuffer, name: string): { text: string } | { refusal: string } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { refusal: `${name} is not UTF-8 text: save it as UTF-8 (in a spreadsheet, "CSV UTF-8") and import it again. Nothing was watched.` };
  }
}

/** The monitor's refusal of the n-th id ("externalIds[n]: ...") said of its line in `from`
 * (the file's name, or the pasted text); another refusal as it is. */
export function refusalAtLine(message: string, lines: number[], from: string): string {
  const found = /^externalIds\[(\d+)\]: (.*)$/s.exec(message);
  const line = found ? lines[Number(found[1])] : undefined;
  if (!found || line === undefined) return message;
  return `${from}, line ${line}: ${found[2]}. Nothing was watched.`;
}
