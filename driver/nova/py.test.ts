import { describe, expect, it } from 'vitest';
import { isNovaError, NovaException, PyKeyError } from './exceptions.js';
import {
  generateDeviceLetter,
  getBdmsToConnect,
  getRootBdm,
  prependDev,
  stripDev,
  swapIsUsable,
  volumeInMapping,
} from './block-device.js';
import { pyEq, pyGe, pyStr, pyTypeName, truthy } from './py.js';

describe('Python semantics', () => {
  it.each([
    [null, false],
    [0, false],
    ['', false],
    [[], false],
    [{}, false],
    [new Map(), false],
    [Number.NaN, false],
    ['0', true],
    [[0], true],
    [{ a: 1 }, true],
    [true, true],
  ])('treats %j as truthy=%j', (value, expected) => {
    expect(truthy(value)).toBe(expected);
  });

  it.each([
    [0, 0, true],
    [false, 0, true],
    [true, 1, true],
    ['0', 0, false],
    [null, 0, false],
    [null, undefined, true],
    ['a', 'a', true],
  ])('compares %j == %j as %j', (a, b, expected) => {
    expect(pyEq(a, b)).toBe(expected);
  });

  it.each([
    ['1', 'str'],
    [[], 'list'],
    [{}, 'dict'],
    [1.5, 'float'],
    [null, 'NoneType'],
  ])('refuses to order %j (%s) against an int', (value, type) => {
    expect(pyTypeName(value)).toBe(type);
    if (type !== 'float') {
      expect(() => pyGe(value, 0)).toThrow(
        `'>=' not supported between instances of '${type}' and 'int'`,
      );
    }
  });

  it.each([
    [true, 'True'],
    [null, 'None'],
    [3, '3'],
  ])('formats %j like str()', (value, expected) => {
    expect(pyStr(value)).toBe(expected);
  });
});

describe('block_device helpers', () => {
  it.each([
    ['/dev/vda', 'vda', '/dev/vda'],
    ['vda', 'vda', '/dev/vda'],
    ['/dev/mapper/x', 'mapper/x', '/dev/mapper/x'],
    ['', '', ''],
    [null, null, null],
  ])('strips %j to %j and prepends to %j', (name, stripped, prepended) => {
    expect(stripDev(name)).toBe(stripped);
    expect(prependDev(name)).toBe(prepended);
  });

  it.each([
    [0, 'a'],
    [25, 'z'],
    [26, 'aa'],
    [701, 'zz'],
    [702, 'aaa'],
  ])('letters device %i as %s', (index, letter) => {
    expect(generateDeviceLetter(index)).toBe(letter);
  });

  it.each([
    [0, true],
    [false, true],
    ['0', false],
    [null, false],
    [undefined, false],
    [1, false],
  ])('treats boot_index %j as root=%j', (bootIndex, isRoot) => {
    const bdm = bootIndex === undefined ? {} : { boot_index: bootIndex };
    expect(getRootBdm([bdm]) === bdm).toBe(isRoot);
    expect(getBdmsToConnect([bdm], true).length).toBe(isRoot ? 0 : 1);
    expect(getBdmsToConnect([bdm]).length).toBe(1);
  });

  it('matches None against an unnamed volume', () => {
    expect(volumeInMapping(null, { block_device_mapping: [{ mount_device: null }] })).toBe(true);
    expect(volumeInMapping(null, null)).toBe(false);
  });

  it('raises KeyError for a volume without mount_device', () => {
    expect(() =>
      volumeInMapping('vda', { block_device_mapping: [{ device_name: '/dev/vda' }] }),
    ).toThrow("'mount_device'");
  });

  it.each([
    [{ device_name: '/dev/vdb', swap_size: 1 }, true],
    [{ device_name: null, swap_size: 1 }, false],
    [{ device_name: '/dev/vdb', swap_size: 0 }, false],
    [null, false],
  ])('considers swap %j usable=%j', (swap, usable) => {
    expect(swapIsUsable(swap)).toBe(usable);
  });
});

describe('exceptions', () => {
  it('serializes as the cases record a failure', () => {
    expect(new NovaException().toJSON()).toEqual({
      type: 'NovaException',
      module: 'nova.exception',
      message: 'An unknown exception occurred.',
    });
    expect(isNovaError(new PyKeyError('x'))).toBe(true);
    expect(isNovaError(new Error('x'))).toBe(false);
  });
});
