// The parts of the Language Server Protocol the window reads, as servers send them.

/** LSP's position: 0-based line and UTF-16 character. */
export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface LspDiagnostic {
  range: LspRange;
  /** 1 error, 2 warning, 3 information, 4 hint. */
  severity?: number;
  message: string;
  source?: string;
  code?: string | number;
}

