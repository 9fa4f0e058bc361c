import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../driver/ports/logger.js';

/** What a log line is about: the instance and the caller's request id, when known. */
export interface LogContext {
  instance?: string;
  requestId?: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `ctx` attached to every line logged inside it (across awaits). */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return context.run({ ...context.getStore(), ...ctx }, fn);
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVEL_NAMES: Record<Level, string> = {
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
};
const ORDER: Level[] = ['debug', 'info', 'warn', 'error'];

/** Options of the service logger. */
export interface NovaLoggerOptions {
  /** Lowest level written; default info. */
  level?: Level;
  /** Where lines go; default stderr (journald under systemd). */
  write?: (line: string) => void;
  /** The logger name in each line; default nova_lxc.service. */
  name?: string;
  now?: () => Date;
}

/**
 * A Logger that writes lines in Nova's default format, so `journalctl -u nova-lxc` reads like
 * nova-compute's log and greps the same way:
 * `2026-12-01 10:00:00.123 4242 INFO nova_lxc.service [req-…] [instance: <uuid>] message`.
 */
export function createNovaLogger(options: NovaLoggerOptions = {}): Logger {
  const min = ORDER.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const name = options.name ?? 'nova_lxc.service';
  const now = options.now ?? (() => new Date());
  const log = (level: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER.indexOf(level) < min) return;
    const ctx = context.getStore() ?? {};
    const stamp = now().toISOString().replace('T', ' ').replace('Z', '');
    const request = ctx.requestId ? `[${ctx.requestId}] ` : '[-] ';
    const instance = ctx.instance ? `[instance: ${ctx.instance}] ` : '';
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    const text = `${message}${extra}`.replace(/\n/g, '\n  ');
    write(`${stamp} ${process.pid} ${LEVEL_NAMES[level]} ${name} ${request}${instance}${text}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
