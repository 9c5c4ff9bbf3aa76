// What the start screen remembers between runs, in the window's own
// storage: the name typed last, and the sessions hosted or joined lately.

const NAME = 'nitroide.name';
const RECENT = 'nitroide.recent';
/** Sessions remembered at most, newest first. */
export const MAX_RECENT = 8;

export type Recent =
  | { kind: 'host'; path: string }
  | { kind: 'join'; path: string; link: string; hostName: string };

export function savedName(store: Storage = localStorage): string | null {
  return store.getItem(NAME);
}

export function saveName(name: string, store: Storage = localStorage): void {
  store.setItem(NAME, name);
}

export function recentSessions(store: Storage = localStorage): Recent[] {
  try {
    const list: unknown = JSON.parse(store.getItem(RECENT) ?? '[]');
    return Array.isArray(list) ? list.filter(isRecent).slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

/** Puts `session` first; the same folder (for the same kind) is listed once. */
export function remember(session: Recent, store: Storage = localStorage): void {
  const rest = recentSessions(store).filter((r) => r.kind !== session.kind || r.path !== session.path);
  store.setItem(RECENT, JSON.stringify([session, ...rest].slice(0, MAX_RECENT)));
}

export function forget(session: Recent, store: Storage = localStorage): void {
  const rest = recentSessions(store).filter((r) => r.kind !== session.kind || r.path !== session.path);
  store.setItem(RECENT, JSON.stringify(rest));
}

function isRecent(r: unknown): r is Recent {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  if (typeof o.path !== 'string') return false;
  if (o.kind === 'host') return true;
  return o.kind === 'join' && typeof o.link === 'string' && typeof o.hostName === 'string';
}
