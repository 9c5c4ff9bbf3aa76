// Sends the local presence at most 60 times a second. The state is read when
// the call goes out, so the trailing call always carries the latest state.
import type { Presence } from './backend';

const MIN_INTERVAL_MS = 1000 / 60;

export class PresenceOut {
  private lastSent = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private previous = '';

  constructor(
    /** Current presence, or null while it cannot be expressed (local edits pending). */
    private readonly read: () => Presence | null,
    private readonly send: (presence: Presence) => Promise<void>,
  ) {}

  /** Something in the presence may have changed. */
  changed(): void {
    if (this.timer) return;
    const wait = this.lastSent + MIN_INTERVAL_MS - performance.now();
    this.timer = setTimeout(() => this.flush(), Math.max(0, wait));
  }

  /** Schedules a re-check, e.g. when "typing" runs out. */
  changedIn(ms: number): void {
    setTimeout(() => this.changed(), ms);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private flush(): void {
    this.timer = null;
    // Offsets only mean something against a settled version; the binding calls
    // changed() again once its edits are acknowledged.
    const presence = this.read();
    if (!presence) return;
    const key = JSON.stringify(presence);
    if (key === this.previous) return;
    this.previous = key;
    this.lastSent = performance.now();
    this.send(presence).catch((err: unknown) => console.warn('set_presence failed', err));
  }
}
