// One injected CSS rule set per peer color, so decorations can use plain class names.
const injected = new Set<string>();
let sheet: HTMLStyleElement | null = null;

/** A CSS color from the engine, or a neutral one if it is not a valid color. */
export function safeColor(color: string): string {
  return CSS.supports('color', color) ? color : '#8a8f98';
}

/** The class that paints remote carets, selections and labels in this peer's color. */
export function peerClass(peer: string, color: string): string {
  const c = safeColor(color);
  const cls = `nitro-peer-${peer.replace(/[^a-zA-Z0-9_-]/g, '')}-${hash(c)}`;
  if (!injected.has(cls)) {
    injected.add(cls);
    sheet ??= document.head.appendChild(document.createElement('style'));
    sheet.append(
      `.${cls}.nitro-remote-selection { background-color: ${c}; opacity: 0.28; }\n` +
        `.${cls}.nitro-remote-cursor { border-left-color: ${c}; }\n` +
        `.${cls} .nitro-remote-label { background-color: ${c}; }\n`,
    );
  }
  return cls;
}

function hash(s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return (h >>> 0).toString(36);
}
