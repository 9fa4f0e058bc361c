import { DriverError } from '../errors.js';

/** What a journal key may be: a plain file name, never a path (see the Journal port). */
const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Throws InvalidInput unless `key` is a valid journal key; both Journal backends call it first. */
export function assertJournalKey(action: string, key: unknown): asserts key is string {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new DriverError(
      'InvalidInput',
      `Failed to ${action} journal record: key ${JSON.stringify(key)} is not a plain name`,
      { hint: 'Journal keys are instance uuids: letters, digits, dot, dash and underscore.' },
    );
  }
}
