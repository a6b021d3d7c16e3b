// Where a user page was opened from, for its breadcrumb: the view whose address came before it
// (with the queue's or the board's filters), or a search. Pure but for the search's note.
import { decisionLabel } from './format';
import { isFiltered, SORTS, type UserFilter } from './filters';
import { parseRoute } from './route';

export interface Origin {
  /** What the breadcrumb says, e.g. "Review queue (REVIEW, subStatus “doc”)". */
  label: string;
  /** Where it leads back to. */
  href: string;
}

let searched: string | null = null;

/** The search box is about to open a user for `query`: that page came from a search. */
export function openedFromSearch(query: string) {
  searched = query.trim();
}

/** The origin of a user page opened while `previousHash` was the address (the search's, if one
 * just opened it). Taken once: back and forward name the view again. */
export function takeOrigin(previousHash: string): Origin {
  const href = previousHash.startsWith('#/') ? previousHash : '#/';
  if (searched !== null) {
    const query = searched;
    searched = null;
    return { label: `Search “${query}”`, href };
  }
  return describeAddress(href);
}

/** The view an address shows, in the breadcrumb's words. */
export function describeAddress(hash: string): Origin {
  const route = parseRoute(hash);
  switch (route.view) {
    case 'board':
      return { label: `Board${filterWords(route.filter)}`, href: hash };
    case 'review':
      return { label: `Review queue${filterWords(route.filter)}`, href: hash };
    case 'deliveries': {
      const id = new URLSearchParams(hash.split('?')[1] ?? '').get('id');
      return { label: id ? `Deliveries (#${id})` : 'Deliveries', href: hash };
    }
    case 'user':
      return { label: route.externalId, href: hash };
    case 'stats':
      return { label: 'Stats', href: hash };
    case 'register':
      return { label: 'Register', href: hash };
    case 'settings':
      return { label: 'Settings', href: hash };
    case 'audit':
      return { label: 'Audit log', href: hash };
  }
}

/** " (REVIEW, subStatus “doc”, over 60 min)" for a filtered view, '' for an unfiltered one. */
export function filterWords(filter: UserFilter): string {
  const words: string[] = [];
  if (filter.status !== undefined) words.push(filter.status);
  if (filter.decision !== undefined) words.push(decisionLabel(filter.decision));
  if (filter.subStatus.trim()) words.push(`subStatus “${filter.subStatus.trim()}”`);
  if (filter.minAgeMinutes > 0) words.push(`over ${filter.minAgeMinutes} min`);
  if (filter.sort) words.push(`by ${SORTS.find((s) => s.value === filter.sort)?.label ?? filter.sort}`);
  return isFiltered(filter) || filter.sort ? ` (${words.join(', ')})` : '';
}
