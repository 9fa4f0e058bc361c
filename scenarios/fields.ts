/**
 * A small table-driven reader for the mappings of the scenario format: each mapping is
 * declared once, as a table of its YAML keys and how each is read, and both the allowed keys
 * (with "did you mean") and the TypeScript type of the result come from that table. Adding a
 * key is one new row. Errors keep the reader's form (file, line:column when known, path,
 * expected, got), because each row reads its value with the same Reader at `<path>.<key>`.
 */
import type { Reader } from './reader.js';

/** Reads one key's value at `path`; `ctx` is what the document's reader knows so far. */
export type FieldRead<T, C> = (r: Reader, value: unknown, path: string, ctx: C) => T;

/** One row of a table: how its value is read, and where it goes. */
export interface Field<T, C> {
  read: FieldRead<T, C>;
  /** Read even when the key is absent (the reader fails, or gives the default). */
  always?: true;
  /** The result field, when it is not the key in camelCase; null: checked, not kept. */
  to?: string | null;
}

/** A key that may be left out: absent, it is absent from the result too. */
export function optional<T, C = unknown>(read: FieldRead<T, C>): { read: FieldRead<T, C> } {
  return { read };
}

/** A key whose reader also runs when it is absent: a required key, or one with a default. */
export function always<T, C = unknown>(
  read: FieldRead<T, C>,
): { read: FieldRead<T, C>; always: true } {
  return { read, always: true };
}

/** The same row, filling the result field `to` instead of the key in camelCase. */
export function renamed<To extends string, F extends Field<unknown, never>>(
  to: To,
  field: F,
): F & { to: To } {
  return { ...field, to };
}

/** A key that is only checked: its value is validated, and the result does not carry it. */
export function checkOnly<C = unknown>(
  read: FieldRead<unknown, C>,
): { read: FieldRead<unknown, C>; to: null } {
  return { read, to: null };
}

// Every table's readers take some context; `never` accepts them all.
type AnyField = Field<unknown, never>;

/** A table: YAML key → row. */
export type Fields = Record<string, AnyField>;

/** `size_limit` → `sizeLimit`. */
type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S;

type Target<K extends string, F> = F extends { to: null }
  ? never
  : F extends { to: infer N extends string }
    ? N
    : Camel<K>;
type ValueOf<F> = F extends { read: FieldRead<infer T, never> } ? T : never;
type Flatten<T> = { [K in keyof T]: T[K] };

/** The result of reading a table: `always` rows are set, the others may be absent. */
export type Read<F extends Fields> = Flatten<
  {
    -readonly [
      K in keyof F & string as F[K] extends { always: true } ? Target<K, F[K]> : never
    ]: ValueOf<F[K]>;
  } & {
    -readonly [
      K in keyof F & string as F[K] extends { always: true } ? never : Target<K, F[K]>
    ]?: ValueOf<F[K]>;
  }
>;

/** The context a table's readers need (the intersection of what each row asks for). */
type ContextOf<F extends Fields> = F[keyof F] extends { read: FieldRead<unknown, infer C> }
  ? C
  : never;

function camel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** The keys a table allows, in declaration order (the order error messages list them in). */
export function keysOf(fields: Fields): string[] {
  return Object.keys(fields);
}

/**
 * Reads a mapping by its table: a value that is not a mapping, or has a key the table does
 * not name, fails at `path`; each row is read at `<path>.<key>` in the table's order.
 */
export function readFields<F extends Fields>(
  r: Reader,
  value: unknown,
  path: string,
  fields: F,
  ctx: ContextOf<F>,
): Read<F> {
  const dict = r.dict(value, path, keysOf(fields));
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    const raw = dict[key];
    if (raw === undefined && !field.always) continue;
    const read = field.read as FieldRead<unknown, ContextOf<F>>;
    const result = read(r, raw, `${path}.${key}`, ctx);
    // A reader that gives undefined leaves the field absent (a value that counts as not given).
    if (field.to !== null && result !== undefined) out[field.to ?? camel(key)] = result;
  }
  return out as Read<F>;
}

type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * Whether two object types are the same (the same keys, each of the same type), for
 * compile-time checks that a table declares a type exactly.
 */
export type Same<A, B> =
  Mutual<keyof A, keyof B> extends true ? (Mutual<A, B> extends true ? true : false) : false;

/** Whether every value of A is a B, for compile-time checks that a table's result fits a type. */
export type Fits<A, B> = [A] extends [B] ? true : false;
