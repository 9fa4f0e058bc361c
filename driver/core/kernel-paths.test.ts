import { describe, expect, it } from 'vitest';
import { deletedName, isUnder } from './kernel-paths.js';

describe('isUnder', () => {
  it('is the directory itself or anything below it', () => {
    expect(isUnder('/var/lib/nova/instances/u1', '/var/lib/nova/instances/u1')).toBe(true);
    expect(isUnder('/var/lib/nova/instances/u1/disk', '/var/lib/nova/instances/u1')).toBe(true);
    expect(isUnder('/var/lib/nova/instances/u1/a/b', '/var/lib/nova/instances/u1')).toBe(true);
  });

  it('is not a sibling that shares a prefix, nor a parent', () => {
    expect(isUnder('/var/lib/nova/instances/u10/disk', '/var/lib/nova/instances/u1')).toBe(false);
    expect(isUnder('/var/lib/nova/instances', '/var/lib/nova/instances/u1')).toBe(false);
  });

  it("counts a file unlinked since (the kernel's `PATH (deleted)`) where it was", () => {
    expect(isUnder('/i/u1/disk (deleted)', '/i/u1')).toBe(true);
    expect(isUnder('/i/u10/disk (deleted)', '/i/u1')).toBe(false);
    expect(isUnder('/i/u1 (deleted)', '/i/u1')).toBe(true);
  });
});

describe('deletedName', () => {
  it("is the kernel's spelling of an unlinked file, which isUnder places where it was", () => {
    expect(deletedName('/i/u1/disk')).toBe('/i/u1/disk (deleted)');
    expect(isUnder(deletedName('/i/u1/disk'), '/i/u1')).toBe(true);
  });
});
