import { describe, expect, it } from 'vitest';
import { heartbeatWatch } from '../../scenarios/expectations.js';
import { runSimScenario } from '../helpers/scenario-run.js';

const HEAD = `
name: demo
volumes:
  vol1:
    disk:
      size: 32M
      table: none
      filesystem:
        type: ext4
        init:
          writes: [{ path: /marker, content: up }]
          environ_to: /env
          heartbeat: { path: /hb, every_s: 1 }
          then: { exit: 4, after_s: 20 }
steps:
  - boot: { instance: web, volume: vol1 }
`;

/** Runs HEAD plus `steps` on the simulator; returns the failure message ('' when it passed). */
const runWith = (steps: string): Promise<string> => runSimScenario(HEAD, steps);

describe('expectations on what a container init does over time', () => {
  it('passes a heartbeat that advances, and one that reaches a count', async () => {
    expect(
      await runWith(
        '    expect: { heartbeat: { web: { path: /hb, advances: true } } }\n' +
          '  - expect: { heartbeat: { web: { path: /hb, at_least: 5 } } }\n',
      ),
    ).toBe('');
  });

  it('follows an init started again, which counts from 1 while the file held the old count', async () => {
    // Seen on the real host after a power on: the first read came before the new init's beat.
    const restarted = heartbeatWatch(15);
    expect([15, 1, 2].map(restarted)).toEqual([false, false, true]);
    const stopped = heartbeatWatch(15);
    expect([15, 15, 15].map(stopped)).toEqual([false, false, false]);
    const live = heartbeatWatch(3);
    expect([3, 4].map(live)).toEqual([false, true]);
    // A count to reach is a count to reach, whatever came before.
    const atLeast = heartbeatWatch(15, 5);
    expect([1, 4, 5].map(atLeast)).toEqual([false, false, true]);
  });

  it('fails a heartbeat once the init has stopped: it cannot pass vacuously', async () => {
    expect(
      await runWith(
        '  - wait: { ms: 21000 }\n    expect: { heartbeat: { web: { path: /hb, advances: true } } }\n',
      ),
    ).toBe('steps[1]: heartbeat /hb of web: not running');
  });

  it('fails a count not reached within its bound, with the last count read', async () => {
    expect(
      await runWith(
        '    expect: { heartbeat: { web: { path: /hb, at_least: 100, within_s: 10 } } }\n',
      ),
    ).toBe(
      'steps[0]: heartbeat /hb of web: expected a count of at least 100 within 10 s, last read 11',
    );
  });

  it('fails a heartbeat on a file that holds no count, or none at all', async () => {
    expect(
      await runWith('    expect: { heartbeat: { web: { path: /marker, advances: true } } }\n'),
    ).toBe('steps[0]: heartbeat /marker of web: not a count: "up"');
    expect(
      await runWith('    expect: { heartbeat: { web: { path: /nope, advances: true } } }\n'),
    ).toBe('steps[0]: heartbeat /nope of web: no such file');
  });

  it("checks the init's environment with this instance's uuid and name, and absent variables", async () => {
    expect(
      await runWith(
        "    expect: { init_env: { web: { file: /env, vars: { LIBVIRT_LXC_UUID: '<uuid:web>', " +
          "LIBVIRT_LXC_NAME: '<name:web>', container: lxc-libvirt, SHLVL: null } } } }\n",
      ),
    ).toBe('');
    const failed = await runWith(
      '    expect: { init_env: { web: { file: /env, vars: { container: lxc, PATH: null } } } }\n',
    );
    expect(failed).toContain(
      'environment of the init of web (/env): container expected "lxc", got "lxc-libvirt"',
    );
    expect(failed).toContain('PATH expected null, got "/bin:/sbin"');
    expect(
      await runWith('    expect: { init_env: { web: { file: /nope, vars: { HOME: / } } } }\n'),
    ).toBe(
      'steps[0]: environment of the init of web (/nope): no such file in the running container',
    );
  });

  it('reads the ids the init runs as and owners as the host sees them', async () => {
    expect(
      await runWith(
        '    expect:\n      init_user: { web: { uid: 0, gid: 0, host_uid: 0, host_gid: 0 } }\n' +
          "      file_owners_host: { web: { /marker: { uid: 0, gid: 0, mode: '0644', kind: file } } }\n",
      ),
    ).toBe('');
    expect(
      await runWith('  - wait: { ms: 21000 }\n    expect: { init_user: { web: { uid: 0 } } }\n'),
    ).toBe('steps[1]: ids of the init of web: expected {"uid":0}, got null');
  });

  it('says why a root expectation found no root to show (the domain stopped)', async () => {
    expect(await runWith('    expect: { root: { web: { source: volume:vol1 } } }\n')).toBe('');
    expect(
      await runWith(
        '  - wait: { ms: 21000 }\n    expect: { root: { web: { source: volume:vol1 } } }\n',
      ),
    ).toMatch(
      /^steps\[1\]: root of web: expected \{"source":"volume:vol1"\}, got null \(Failed to read the container root of \S+: the domain is shut off\)$/,
    );
  });

  it('waits for an init to exit by itself, and fails a wait for a state that never comes', async () => {
    expect(
      await runWith(
        '  - wait: { ms: 60000, for: { web: shutdown } }\n    expect: { domains: [web] }\n',
      ),
    ).toBe('');
    expect(await runWith('  - wait: { ms: 5000, for: { web: shutdown } }\n')).toBe(
      'steps[1]: the step failed: steps[1]: after 5000 ms web is running, not shutdown',
    );
  });

  it('kills the init of a running domain only', async () => {
    expect(
      await runWith(
        '  - host_action: { kill_init: web }\n    expect: { state: { web: shutdown } }\n' +
          '  - host_action: { kill_init: web }\n',
      ),
    ).toMatch(
      /^steps\[2\]: the step failed: FailedPrecondition: Failed to kill the init of nlt-\w+: it has no running init that is provably its own$/,
    );
  });
});
