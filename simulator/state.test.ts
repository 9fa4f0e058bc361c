import { afterEach, describe, expect, it, vi } from 'vitest';
import { newTree } from './state.js';

/** process with the POSIX-only members typed as present (this suite runs on Linux). */
const posixProcess = process as Required<Pick<NodeJS.Process, 'getuid' | 'getgid'>>;

describe('simulated trees', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ['root', 0, 0],
    ['nobody', 65534, 65534],
    ['an ordinary user', 1000, 1000],
  ])('owns new files as root when the simulator runs as %s', (_who, uid, gid) => {
    vi.spyOn(posixProcess, 'getuid').mockReturnValue(uid);
    vi.spyOn(posixProcess, 'getgid').mockReturnValue(gid);
    const tree = newTree();
    tree.mkdirSync('/etc', { recursive: true });
    tree.writeFileSync('/etc/hostname', 'web\n', { mode: 0o644 });
    expect(tree.statSync('/etc').uid).toBe(0);
    expect(tree.statSync('/etc/hostname')).toMatchObject({ uid: 0, gid: 0 });
    expect(tree.statSync('/').uid).toBe(0);
  });

  it('lets root read and write any file whatever its owner and mode, as the kernel does', () => {
    vi.spyOn(posixProcess, 'getuid').mockReturnValue(65534);
    const tree = newTree();
    tree.writeFileSync('/secret', 'x', { mode: 0o640 });
    tree.lchownSync('/secret', 100000, 100000);
    tree.chmodSync('/secret', 0o000);
    expect(tree.readFileSync('/secret', 'utf8')).toBe('x');
    tree.writeFileSync('/secret', 'y');
    expect(tree.readFileSync('/secret', 'utf8')).toBe('y');
    tree.mkdirSync('/locked', { mode: 0o000 });
    tree.writeFileSync('/locked/inside', 'z');
    expect(tree.readdirSync('/locked')).toEqual(['inside']);
  });

  it('keeps the mode it was given, whatever the umask of the process', () => {
    const old = process.umask(0o077);
    try {
      const tree = newTree();
      tree.writeFileSync('/f', 'x', { mode: 0o644 });
      expect(tree.statSync('/f').mode & 0o7777).toBe(0o644);
    } finally {
      process.umask(old);
    }
  });
});
