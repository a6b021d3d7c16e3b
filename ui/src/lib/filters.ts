// The filters the review queue and the board share (the monitor's ReviewQuery): decision,
// subStatus and time in the status, and for the queue its status. On the board they live in the
// address (#/?decision=REVIEW&subStatus=…&minAge=60), so a filtered board can be shared and
// survives a reload. Pure functions, tested in filters.test.ts.
import type { Assigned, PageCursor, ReviewQuery, ReviewSort } from './types';

export interface UserFilter {
  /** undefined: any status (the review queue's own statuses only). */
  status?: string;
  /** undefined: any decision; '' is no decision. */
  decision?: string;
  /** '': any subStatus; else exactly this one. */
  subStatus: string;
  /** Only users in their status at least this long; 0: any. */
  minAgeMinutes: number;
  /** The review queue's order; undefined: the longest wait first. Not a filter: it narrows nothing. */
  sort?: ReviewSort;
  /** Only the person's own cases, or the unassigned ones; undefined: anyone's. */
  assigned?: Assigned;
}

/** The case filters, as their control names them. */
export const ASSIGNED: { value: Assigned; label: string }[] = [
  { value: 'mine', label: 'Mine' },
  { value: 'unassigned', label: 'Unassigned' },
];

/** The review queue's orders, as its control names them. */
export const SORTS: { value: ReviewSort; label: string }[] = [
  { value: 'longestWait', label: 'Longest wait first' },
  { value: 'latestChange', label: 'Latest status change first' },
  { value: 'firstSeen', label: 'First seen first' },
  { value: 'id', label: 'externalId' },
];

export const NO_FILTER: UserFilter = { subStatus: '', minAgeMinutes: 0 };

export const DECISIONS = ['REVIEW', 'ACCEPT', 'REJECT', ''];

export const AGES = [
  { label: 'Any time', minutes: 0 },
  { label: 'Over 1 hour', minutes: 60 },
  { label: 'Over 1 day', minutes: 24 * 60 },
  { label: 'Over 7 days', minutes: 7 * 24 * 60 },
];

export function isFiltered(filter: UserFilter): boolean {
  return filter.status !== undefined || filter.decision !== undefined || filter.subStatus.trim() !== '' || filter.minAgeMinutes > 0 || filter.assigned !== undefined;
}

/** The monitor's query for one page under `filter`. */
export function filterQuery(filter: UserFilter, after: PageCursor | null, limit: number): ReviewQuery {
  return {
    status: filter.status ?? null,
    decision: filter.decision ?? null,
    subStatus: filter.subStatus.trim() || null,
    minAgeMinutes: filter.minAgeMinutes || null,
    sort: filter.sort ?? null,
    assigned: filter.assigned ?? null,
    afterSince: after?.afterSince ?? null,
    afterId: after?.afterId ?? null,
    limit,
  };
}

/** The filter as the address's parameters ('' when there is none). "No decision" is kept as
 * an empty `decision=`. */
export function filterParams(filter: UserFilter): string {
  const params = new URLSearchParams();
  if (filter.status !== undefined) params.set('status', filter.status);
  if (filter.decision !== undefined) params.set('decision', filter.decision);
  if (filter.subStatus.trim()) params.set('subStatus', filter.subStatus.trim());
  if (filter.minAgeMinutes > 0) params.set('minAge', String(filter.minAgeMinutes));
  if (filter.sort && filter.sort !== 'longestWait') params.set('sort', filter.sort);
  if (filter.assigned) params.set('assigned', filter.assigned);
  return params.toString();
}

/** The filter the address's parameters name; anything unreadable is no filter. */
export function parseFilter(params: URLSearchParams): UserFilter {
  const minAge = Number(params.get('minAge') ?? 0);
  const sort = SORTS.find((choice) => choice.value === params.get('sort'))?.value;
  const assigned = ASSIGNED.find((choice) => choice.value === params.get('assigned'))?.value;
  return {
    ...(params.has('status') ? { status: params.get('status') ?? '' } : {}),
    ...(params.has('decision') ? { decision: params.get('decision') ?? '' } : {}),
    subStatus: params.get('subStatus') ?? '',
    minAgeMinutes: Number.isInteger(minAge) && minAge > 0 ? minAge : 0,
    ...(sort && sort !== 'longestWait' ? { sort } : {}),
    ...(assigned ? { assigned } : {}),
  };
}
