// Fans the engine's event channel out to the parts of the window that care.
import type { UiEvent } from './backend';
import type { Disposable } from './dom';

type Handler<T extends UiEvent['type']> = (event: Extract<UiEvent, { type: T }>) => void;

export class EventHub {
  private readonly handlers = new Map<UiEvent['type'], Set<(event: UiEvent) => void>>();

  on<T extends UiEvent['type']>(type: T, handler: Handler<T>): Disposable {
    const set = this.handlers.get(type) ?? new Set();
    this.handlers.set(type, set);
    const h = handler as (event: UiEvent) => void;
    set.add(h);
    return { dispose: () => set.delete(h) };
  }

  emit(event: UiEvent): void {
    for (const h of this.handlers.get(event.type) ?? []) {
      try {
        h(event);
      } catch (err) {
        console.error(`handler for ${event.type} failed`, err);
      }
    }
  }
}
