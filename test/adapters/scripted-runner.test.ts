import { describe, expect, it } from 'vitest';
import { ScriptedHost } from '../../harness/scripted-runner.js';

describe('ScriptedHost', () => {
  const host = () =>
    new ScriptedHost({
      name: 'inline',
      steps: [
        {
          op: 'run',
          argv: ['losetup', '--detach', '/dev/loop3'],
          stdout: '',
          stderr: '',
          exitCode: 0,
        },
        { op: 'readText', path: '/proc/self/mountinfo', text: '' },
      ],
    });

  it('replays steps in order', async () => {
    const scripted = host();
    await expect(scripted.run(['losetup', '--detach', '/dev/loop3'])).resolves.toMatchObject({
      exitCode: 0,
    });
    await expect(scripted.readText('/proc/self/mountinfo')).resolves.toBe('');
    expect(() => scripted.assertDone()).not.toThrow();
  });

  it.each([
    ['another argv', ['losetup', '--detach', '/dev/loop4']],
    ['a different command', ['umount', '/x']],
  ])('fails on %s', async (_what, argv) => {
    await expect(host().run(argv)).rejects.toThrow(/unexpected run/);
  });

  it('fails on a file read where a command was recorded', async () => {
    await expect(host().readText('/proc/self/mountinfo')).rejects.toThrow(/unexpected readText/);
  });

  it('reports steps left unplayed', () => {
    expect(() => host().assertDone()).toThrow(/2 step\(s\) not replayed/);
  });

  it('turns a recorded non-zero exit into a CommandError with argv and stderr', async () => {
    const scripted = new ScriptedHost({
      name: 'failing',
      steps: [
        {
          op: 'run',
          argv: ['umount', '/x'],
          stdout: '',
          stderr: 'umount: /x: not mounted.\n',
          exitCode: 32,
        },
      ],
    });
    await expect(
      scripted.run(['umount', '/x'], { action: 'unmount filesystem', classify: () => 'NotFound' }),
    ).rejects.toMatchObject({
      code: 'NotFound',
      message: 'Failed to unmount filesystem: umount: /x: not mounted.',
      argv: ['umount', '/x'],
      exitCode: 32,
    });
  });
});
