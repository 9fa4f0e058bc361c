import { notModelled } from './failures.js';

/** One observable step of a container init: a file written, then running on or exiting. */
export type InitEffect =
  | { kind: 'write'; path: string; content: string }
  | { kind: 'run' }
  | { kind: 'exit'; status: number };

const SHEBANG = '#!/bin/busybox sh';

/**
 * The sleep a running init ends with: busybox's longest (INT_MAX seconds). It equals
 * INIT_SLEEP_SECONDS in harness/disk-spec.ts; the round-trip test pins that.
 */
const RUN_SLEEP_SECONDS = '2147483647';

// A word as shellQuote writes it: single-quoted runs joined by `\'` (so `'` is `'\''`).
const QUOTED = String.raw`'[^']*'(?:\\''[^']*')*`;
const BLANK = '[ \\t]';
const EOL = `${BLANK}*(?:\\n|$)`;

const WRITE = new RegExp(
  `/bin/busybox${BLANK}+printf${BLANK}+'%s'${BLANK}+(${QUOTED})${BLANK}*>${BLANK}*(${QUOTED})${EOL}`,
  'y',
);
const EXEC_SLEEP = new RegExp(`exec${BLANK}+/bin/busybox${BLANK}+sleep${BLANK}+(\\d+)${EOL}`, 'y');
const EXIT = new RegExp(`exit${BLANK}+(\\d+)${EOL}`, 'y');
const BLANK_LINE = new RegExp(`${BLANK}*(?:\\n|$)`, 'y');

/**
 * Runs a container init the way busybox sh would, for exactly the dialect `renderInit`
 * emits, and returns its effects in order; anything else throws NotModelled, because a
 * simulator that guessed would pass tests the real host fails.
 */
export function interpretInit(script: string, path: string): InitEffect[] {
  const firstNewline = script.indexOf('\n');
  const firstLine = firstNewline === -1 ? script : script.slice(0, firstNewline);
  // Without `#!` the kernel would need an ELF (or fail with ENOEXEC); neither is modelled.
  if (firstLine !== SHEBANG) {
    throw unsupported(path, 1, firstLine);
  }
  const effects: InitEffect[] = [];
  let pos = firstNewline === -1 ? script.length : firstNewline + 1;
  let line = 2;
  let ended = false;
  while (pos < script.length) {
    const blank = match(BLANK_LINE, script, pos);
    if (blank) {
      pos += blank[0].length || 1;
      line += 1;
      continue;
    }
    // exec replaces the shell and exit leaves it: a following command never runs, and a
    // script written that way is not one renderInit emits.
    const write = ended ? null : match(WRITE, script, pos);
    const exec = ended ? null : match(EXEC_SLEEP, script, pos);
    const exit = ended ? null : match(EXIT, script, pos);
    if (write) {
      const target = unquote(write[2] ?? '');
      if (!target.startsWith('/')) {
        // The shell would resolve it against the init's working directory, which is not modelled.
        throw unsupported(path, line, lineAt(script, pos));
      }
      effects.push({ kind: 'write', path: target, content: unquote(write[1] ?? '') });
    } else if (exec && exec[1] === RUN_SLEEP_SECONDS) {
      effects.push({ kind: 'run' });
      ended = true;
    } else if (exit && Number(exit[1]) <= 255) {
      effects.push({ kind: 'exit', status: Number(exit[1]) });
      ended = true;
    } else {
      throw unsupported(path, line, lineAt(script, pos));
    }
    const consumed = (write ?? exec ?? exit)?.[0] ?? '';
    pos += consumed.length;
    line += countNewlines(consumed);
  }
  if (!ended) {
    // Falling off the end exits with the last command's status, which depends on whether
    // the last write succeeded: not knowable here.
    throw unsupported(path, line, '(end of script without exec or exit)');
  }
  return effects;
}

function match(pattern: RegExp, script: string, pos: number): RegExpExecArray | null {
  pattern.lastIndex = pos;
  return pattern.exec(script);
}

/** Reverses shellQuote: the only quotes inside the outer pair come from `'\''`. */
function unquote(word: string): string {
  return word.slice(1, -1).replaceAll(`'\\''`, `'`);
}

function lineAt(script: string, pos: number): string {
  const end = script.indexOf('\n', pos);
  return script.slice(pos, end === -1 ? script.length : end);
}

function countNewlines(text: string): number {
  let count = 0;
  for (const char of text) {
    if (char === '\n') {
      count += 1;
    }
  }
  return count;
}

function unsupported(path: string, line: number, text: string): Error {
  return notModelled(`init ${path}`, `line ${line} \`${printable(text)}\``);
}

/** Keeps the message one readable line even for a binary init. */
function printable(text: string): string {
  const shown = [...text]
    .slice(0, 60)
    .map((char) => {
      const code = char.codePointAt(0) ?? 0;
      return code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)
        ? `\\x${code.toString(16).padStart(2, '0')}`
        : char;
    })
    .join('');
  return [...text].length > 60 ? `${shown}…` : shown;
}
