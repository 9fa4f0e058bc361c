import { notModelled } from './failures.js';

/**
 * One observable step of a container init, in order: a file written, its environment copied,
 * the filesystem filled, a heartbeat started in the background, a pause, then running on or
 * exiting. What follows a `sleep` happens that many seconds later.
 */
export type InitEffect =
  | { kind: 'write'; path: string; content: string }
  | { kind: 'environ'; path: string }
  | { kind: 'fill'; path: string; statusTo: string }
  | { kind: 'heartbeat'; path: string; everyS: number }
  | { kind: 'sleep'; seconds: number }
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
const BB = '/bin/busybox';
const ENVIRON = new RegExp(
  `${BB}${BLANK}+cat${BLANK}+/proc/1/environ${BLANK}*>${BLANK}*(${QUOTED})${EOL}`,
  'y',
);
const FILL = new RegExp(
  `${BB} dd if=/dev/zero of=(${QUOTED}) bs=65536 2>/dev/null; ` +
    `${BB} printf '%s' "\\$\\?" \\| ${BB} dd of=(${QUOTED}) conv=notrunc 2>/dev/null${EOL}`,
  'y',
);
const HEARTBEAT = new RegExp(
  `n=0; while :; do n=\\$\\(\\(n\\+1\\)\\); ${BB} printf '%s' "\\$n" > (${QUOTED}) && ` +
    `${BB} mv (${QUOTED}) (${QUOTED}); ${BB} sleep ([1-9]\\d*); done &${EOL}`,
  'y',
);
const SLEEP = new RegExp(`${BB}${BLANK}+sleep${BLANK}+([1-9]\\d*)${EOL}`, 'y');
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
    const found: [InitEffect, string] | undefined = ended ? undefined : recognise(script, pos);
    if (!found) throw unsupported(path, line, lineAt(script, pos));
    const [effect, matched]: [InitEffect, string] = found;
    if ('path' in effect && !effect.path.startsWith('/')) {
      // The shell would resolve it against the init's working directory, which is not modelled.
      throw unsupported(path, line, lineAt(script, pos));
    }
    if (effect.kind === 'fill' && !effect.statusTo.startsWith('/')) {
      throw unsupported(path, line, lineAt(script, pos));
    }
    effects.push(effect);
    ended = effect.kind === 'run' || effect.kind === 'exit';
    pos += matched.length;
    line += countNewlines(matched);
  }
  if (!ended) {
    // Falling off the end exits with the last command's status, which depends on whether
    // the last write succeeded: not knowable here.
    throw unsupported(path, line, '(end of script without exec or exit)');
  }
  return effects;
}

/** The effect of the command line at `pos` and the text it spans, undefined when not the dialect. */
function recognise(script: string, pos: number): [InitEffect, string] | undefined {
  const write = match(WRITE, script, pos);
  if (write) {
    return [
      { kind: 'write', path: unquote(write[2] ?? ''), content: unquote(write[1] ?? '') },
      write[0],
    ];
  }
  const environ = match(ENVIRON, script, pos);
  if (environ) return [{ kind: 'environ', path: unquote(environ[1] ?? '') }, environ[0]];
  const fill = match(FILL, script, pos);
  if (fill) {
    const effect: InitEffect = {
      kind: 'fill',
      path: unquote(fill[1] ?? ''),
      statusTo: unquote(fill[2] ?? ''),
    };
    return [effect, fill[0]];
  }
  const beat = match(HEARTBEAT, script, pos);
  // The counter goes to a temporary file renamed over the heartbeat: exactly `<path>.tmp`.
  if (beat) {
    const [tmp, from, to] = [beat[1], beat[2], beat[3]].map((w) => unquote(w ?? ''));
    if (tmp !== from || tmp !== `${to}.tmp`) return undefined;
    return [{ kind: 'heartbeat', path: to ?? '', everyS: Number(beat[4]) }, beat[0]];
  }
  const sleep = match(SLEEP, script, pos);
  if (sleep && sleep[1] !== RUN_SLEEP_SECONDS) {
    return [{ kind: 'sleep', seconds: Number(sleep[1]) }, sleep[0]];
  }
  const exec = match(EXEC_SLEEP, script, pos);
  if (exec && exec[1] === RUN_SLEEP_SECONDS) return [{ kind: 'run' }, exec[0]];
  const exit = match(EXIT, script, pos);
  if (exit && Number(exit[1]) <= 255) return [{ kind: 'exit', status: Number(exit[1]) }, exit[0]];
  return undefined;
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
