// In-window dialogs (the webview's own confirm/prompt are not styled and block the event loop).
import { h } from './dom';

interface DialogOptions {
  title: string;
  message?: string;
  confirm: string;
  danger?: boolean;
  /** Shows a text field with this initial value; the promise then yields its text. */
  input?: string;
  /** The label of the button that dismisses (default "Cancel"). */
  cancel?: string;
  /** A further button; the promise then yields its `value`. */
  extra?: { label: string; value: string };
  /** Closes the dialog; the promise then yields `'aborted'`. */
  signal?: AbortSignal;
}

function dialog(options: DialogOptions): Promise<string | null> {
  return new Promise((resolve) => {
    const field = options.input !== undefined ? h('input', { className: 'field', value: options.input }) : null;
    const ok = h('button', {
      className: options.danger ? 'btn btn-danger' : 'btn btn-primary',
      textContent: options.confirm,
    });
    const cancel = h('button', { className: 'btn', textContent: options.cancel ?? 'Cancel' });
    const extra = options.extra ? h('button', { className: 'btn', textContent: options.extra.label }) : null;
    const box = h(
      'form',
      { className: 'modal' },
      h('h2', { textContent: options.title }),
      options.message ? h('p', { textContent: options.message }) : null,
      field,
      h('div', { className: 'modal-buttons' }, extra, cancel, ok),
    );
    const backdrop = h('div', { className: 'modal-backdrop' }, box);
    const finish = (value: string | null) => {
      backdrop.remove();
      resolve(value);
    };
    box.onsubmit = (e) => {
      e.preventDefault();
      finish(field ? field.value : '');
    };
    ok.type = 'submit';
    cancel.type = 'button';
    cancel.onclick = () => finish(null);
    if (extra && options.extra) {
      const value = options.extra.value;
      extra.type = 'button';
      extra.onclick = () => finish(value);
    }
    backdrop.onkeydown = (e) => {
      if (e.key === 'Escape') finish(null);
    };
    options.signal?.addEventListener('abort', () => finish('aborted'), { once: true });
    document.body.append(backdrop);
    if (field) {
      field.focus();
      // Preselect the name without its extension, as file managers do.
      const dot = field.value.lastIndexOf('.');
      field.setSelectionRange(0, dot > 0 ? dot : field.value.length);
    } else {
      ok.focus();
    }
  });
}

export async function confirmDialog(title: string, message: string, confirm: string, danger = false): Promise<boolean> {
  return (await dialog({ title, message, confirm, danger })) !== null;
}

/**
 * Asks a question with a yes, a no and one more answer: resolves to
 * `'yes'`, `'no'`, `extra.value`, or `'aborted'` when `signal` closed it.
 */
export async function choiceDialog(
  title: string,
  message: string,
  buttons: { yes: string; no: string; extra?: { label: string; value: string } },
  signal?: AbortSignal,
): Promise<string> {
  const value = await dialog({ title, message, confirm: buttons.yes, cancel: buttons.no, extra: buttons.extra, signal });
  return value === null ? 'no' : value === '' ? 'yes' : value;
}

/** Asks for a line of text; `message` says what was wrong with the last answer. */
export async function promptDialog(title: string, initial: string, confirm: string, message?: string): Promise<string | null> {
  const value = await dialog({ title, confirm, input: initial, message });
  return value === null || value.trim() === '' ? null : value.trim();
}
