// Shims for the browser APIs Monaco touches at import time that jsdom lacks.
if (!window.matchMedia) {
  window.matchMedia = (query: string): MediaQueryList =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
if (!document.queryCommandSupported) {
  document.queryCommandSupported = () => false;
}
if (!('ResizeObserver' in window)) {
  class NoopResizeObserver {
    observe(): void {}
    unobserve(): void {}
    disconnect(): void {}
  }
  (window as unknown as { ResizeObserver: unknown }).ResizeObserver = NoopResizeObserver;
}
if (typeof globalThis.CSS?.escape !== 'function') {
  const escape = (value: string): string => value.replace(/[^a-zA-Z0-9_-]/g, (c) => `\\${c}`);
  (window as unknown as { CSS: { escape: typeof escape } }).CSS = { escape };
  (globalThis as unknown as { CSS: { escape: typeof escape } }).CSS = { escape };
}
// jsdom has no canvas; Monaco only measures fonts with it, so "no context" is fine.
HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;
