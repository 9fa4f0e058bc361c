/**
 * The few Python semantics Nova's blockinfo code depends on, spelled out once: truthiness,
 * `==` between numbers and booleans, ordering comparisons that raise TypeError, `dict.get`.
 */
import { PyTypeError } from './exceptions.js';

/** A Python-style dict as Nova passes them around (string keys, any values). */
export type PyDict = Record<string, unknown>;

/** Python truthiness: None, False, 0, '', and empty list/dict/Map are false. */
export function truthy(value: unknown): boolean {
  if (value === null || value === undefined || value === false) {
    return false;
  }
  if (typeof value === 'number') {
    return value !== 0 && !Number.isNaN(value);
  }
  if (typeof value === 'string') {
    return value !== '';
  }
  if (Array.isArray(value)) {
    return value.length > 0;
  }
  if (value instanceof Map || value instanceof Set) {
    return value.size > 0;
  }
  if (typeof value === 'object') {
    return Object.keys(value).length > 0;
  }
  return true;
}

/** Python `a or b`: `a` when truthy, else `b`. */
export function or<A, B>(a: A, b: B): A | B {
  return truthy(a) ? a : b;
}

/** Python `dict.get(key, default)`: a stored None is returned as None, not the default. */
export function dictGet(dict: PyDict, key: string, defaultValue: unknown = null): unknown {
  return Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : defaultValue;
}

/** The Python class name of a JSON-ish value, for error messages. */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) {
    return 'NoneType';
  }
  if (typeof value === 'boolean') {
    return 'bool';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'int' : 'float';
  }
  if (typeof value === 'string') {
    return 'str';
  }
  if (Array.isArray(value)) {
    return 'list';
  }
  return 'dict';
}

/** Python numbers: bool is an int subclass, so True/False take part in arithmetic. */
function asPyNumber(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'boolean') {
    return value ? 1 : 0;
  }
  return undefined;
}

/** Python `a == b` for the scalars Nova compares (0 == 0.0 == False; '0' != 0; None == None). */
export function pyEq(a: unknown, b: unknown): boolean {
  const na = asPyNumber(a);
  const nb = asPyNumber(b);
  if (na !== undefined && nb !== undefined) {
    return na === nb;
  }
  if ((a === null || a === undefined) && (b === null || b === undefined)) {
    return true;
  }
  return a === b;
}

/** Python `value >= bound` for an int bound: non-numbers raise TypeError as Python 3 does. */
export function pyGe(value: unknown, bound: number): boolean {
  const n = asPyNumber(value);
  if (n === undefined) {
    throw new PyTypeError(
      `'>=' not supported between instances of '${pyTypeName(value)}' and 'int'`,
    );
  }
  return n >= bound;
}

/** Python `value > bound` for an int bound: non-numbers raise TypeError as Python 3 does. */
export function pyGt(value: unknown, bound: number): boolean {
  const n = asPyNumber(value);
  if (n === undefined) {
    throw new PyTypeError(
      `'>' not supported between instances of '${pyTypeName(value)}' and 'int'`,
    );
  }
  return n > bound;
}

/** Python `str(value + 1)` for an int/bool/float value (a float keeps no `.0`: JSON loses it). */
export function pyStrPlusOne(value: unknown): string {
  const n = asPyNumber(value);
  if (n === undefined) {
    throw new PyTypeError(`can only concatenate str (not "int") to str`);
  }
  return String(n + 1);
}

/** Python `str(value)` for an int/bool boot index. */
export function pyStr(value: unknown): string {
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (value === null || value === undefined) {
    return 'None';
  }
  return String(value);
}

/** True for a plain JSON object (not an array, not null). */
export function isDict(value: unknown): value is PyDict {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map)
  );
}
