import { describe, expect, it } from 'vitest';
import { hasCode } from '../driver/errors.js';
import { INIT_SLEEP_SECONDS, renderInit, type InitSpec } from '../harness/disk-spec.js';
import { interpretInit, type InitEffect } from './init-script.js';

const PATH = '/sbin/init';

function rejection(script: string): unknown {
  try {
    interpretInit(script, PATH);
  } catch (error) {
    return error;
  }
  throw new Error('interpretInit accepted the script');
}

describe('interpretInit', () => {
  it.each<[string, InitSpec, InitEffect[]]>([
    ['a running init', { then: 'run' }, [{ kind: 'run' }]],
    ['an init that exits 0', { then: { exit: 0 } }, [{ kind: 'exit', status: 0 }]],
    ['an init that exits 255', { then: { exit: 255 } }, [{ kind: 'exit', status: 255 }]],
    [
      'plain writes',
      {
        writes: [
          { path: '/etc/hostname', content: 'guest' },
          { path: '/run/ready', content: '' },
        ],
        then: 'run',
      },
      [
        { kind: 'write', path: '/etc/hostname', content: 'guest' },
        { kind: 'write', path: '/run/ready', content: '' },
        { kind: 'run' },
      ],
    ],
    [
      'quotes, newlines and shell metacharacters',
      {
        writes: [
          { path: "/tmp/it's here", content: "it's 'quoted'\n\"double\" $HOME `x` \\n ; & |" },
          { path: '/tmp/q', content: "'" },
          { path: '/tmp/qq', content: "''\n'\n" },
        ],
        then: { exit: 3 },
      },
      [
        {
          kind: 'write',
          path: "/tmp/it's here",
          content: "it's 'quoted'\n\"double\" $HOME `x` \\n ; & |",
        },
        { kind: 'write', path: '/tmp/q', content: "'" },
        { kind: 'write', path: '/tmp/qq', content: "''\n'\n" },
        { kind: 'exit', status: 3 },
      ],
    ],
    [
      'unicode and a trailing newline',
      { writes: [{ path: '/tmp/ünï', content: 'héllo wörld 🚀\n' }], then: 'run' },
      [{ kind: 'write', path: '/tmp/ünï', content: 'héllo wörld 🚀\n' }, { kind: 'run' }],
    ],
    [
      'an init that copies its environment, fills its disk and keeps a heartbeat',
      {
        writes: [{ path: '/marker', content: 'up' }],
        environTo: '/env',
        fill: { path: "/fill it's", statusTo: '/fill.status' },
        heartbeat: { path: '/run/hb', everyS: 2 },
        then: 'run',
      },
      [
        { kind: 'write', path: '/marker', content: 'up' },
        { kind: 'environ', path: '/env' },
        { kind: 'write', path: '/fill.status', content: '-' },
        { kind: 'fill', path: "/fill it's", statusTo: '/fill.status' },
        { kind: 'heartbeat', path: '/run/hb', everyS: 2 },
        { kind: 'run' },
      ],
    ],
    [
      'an init that exits after a pause',
      { heartbeat: { path: '/hb', everyS: 1 }, then: { exit: 7, afterS: 5 } },
      [
        { kind: 'heartbeat', path: '/hb', everyS: 1 },
        { kind: 'sleep', seconds: 5 },
        { kind: 'exit', status: 7 },
      ],
    ],
  ])('runs %s rendered by renderInit', (_name, spec, effects) => {
    expect(interpretInit(renderInit(spec), PATH)).toEqual(effects);
  });

  it('recognises the sleep renderInit ends a running init with', () => {
    expect(renderInit({ then: 'run' })).toContain(`sleep ${INIT_SLEEP_SECONDS}\n`);
    expect(interpretInit(renderInit({ then: 'run' }), PATH)).toEqual([{ kind: 'run' }]);
  });

  it('tolerates blank lines and extra blanks between words', () => {
    const script = `#!/bin/busybox sh\n\n/bin/busybox  printf '%s'  'x' >'/a'\t\n\nexit 1\n\n`;
    expect(interpretInit(script, PATH)).toEqual([
      { kind: 'write', path: '/a', content: 'x' },
      { kind: 'exit', status: 1 },
    ]);
  });

  it('accepts a script without a final newline', () => {
    expect(interpretInit('#!/bin/busybox sh\nexit 7', PATH)).toEqual([{ kind: 'exit', status: 7 }]);
  });

  it.each([
    ['another shebang', '#!/bin/sh\nexit 0\n', 1, '#!/bin/sh'],
    ['a shebang with arguments', '#!/bin/busybox sh -e\nexit 0\n', 1, '#!/bin/busybox sh -e'],
    ['CRLF line ends', '#!/bin/busybox sh\r\nexit 0\r\n', 1, '#!/bin/busybox sh\\x0d'],
    ['an ELF binary', '\x7fELF\x02\x01\x01\0\0\0', 1, '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00'],
    ['a file without a shebang', 'echo hello\n', 1, 'echo hello'],
    ['an empty file', '', 1, ''],
    ['an unknown command', '#!/bin/busybox sh\necho hi\nexit 0\n', 2, 'echo hi'],
    ['a comment', '#!/bin/busybox sh\n# hi\nexit 0\n', 2, '# hi'],
    [
      'a line after exec',
      `#!/bin/busybox sh\nexec /bin/busybox sleep ${INIT_SLEEP_SECONDS}\nexit 0\n`,
      3,
      'exit 0',
    ],
    ['a line after exit', '#!/bin/busybox sh\nexit 0\nexit 1\n', 3, 'exit 1'],
    [
      'a short sleep',
      '#!/bin/busybox sh\nexec /bin/busybox sleep 5\n',
      2,
      'exec /bin/busybox sleep 5',
    ],
    [
      'a sleep without exec',
      `#!/bin/busybox sh\n/bin/busybox sleep ${INIT_SLEEP_SECONDS}\n`,
      2,
      `/bin/busybox sleep ${INIT_SLEEP_SECONDS}`,
    ],
    [
      'a sleep of 0 s',
      '#!/bin/busybox sh\n/bin/busybox sleep 0\nexit 0\n',
      2,
      '/bin/busybox sleep 0',
    ],
    [
      'a relative environ copy',
      "#!/bin/busybox sh\n/bin/busybox cat /proc/1/environ > 'env'\nexit 0\n",
      2,
      "/bin/busybox cat /proc/1/environ > 'env'",
    ],
    [
      'a copy of another file',
      "#!/bin/busybox sh\n/bin/busybox cat /proc/self/environ > '/env'\nexit 0\n",
      2,
      "/bin/busybox cat /proc/self/environ > '/env'",
    ],
    [
      'a fill with another block size',
      `#!/bin/busybox sh\n/bin/busybox dd if=/dev/zero of='/f' bs=1M 2>/dev/null; /bin/busybox printf '%s' "$?" | /bin/busybox dd of='/s' conv=notrunc 2>/dev/null\nexit 0\n`,
      2,
      `/bin/busybox dd if=/dev/zero of='/f' bs=1M 2>/dev/null; /bin…`,
    ],
    [
      'a fill with a relative status file',
      `#!/bin/busybox sh\n/bin/busybox dd if=/dev/zero of='/f' bs=65536 2>/dev/null; /bin/busybox printf '%s' "$?" | /bin/busybox dd of='s' conv=notrunc 2>/dev/null\nexit 0\n`,
      2,
      `/bin/busybox dd if=/dev/zero of='/f' bs=65536 2>/dev/null; /…`,
    ],
    [
      'a heartbeat renamed from another file',
      `#!/bin/busybox sh\nn=0; while :; do n=$((n+1)); /bin/busybox printf '%s' "$n" > '/x' && /bin/busybox mv '/x' '/hb'; /bin/busybox sleep 1; done &\nexit 0\n`,
      2,
      `n=0; while :; do n=$((n+1)); /bin/busybox printf '%s' "$n" >…`,
    ],
    [
      'a heartbeat in the foreground',
      `#!/bin/busybox sh\nn=0; while :; do n=$((n+1)); /bin/busybox printf '%s' "$n" > '/hb.tmp' && /bin/busybox mv '/hb.tmp' '/hb'; /bin/busybox sleep 1; done\n`,
      2,
      `n=0; while :; do n=$((n+1)); /bin/busybox printf '%s' "$n" >…`,
    ],
    ['an exit status above 255', '#!/bin/busybox sh\nexit 256\n', 2, 'exit 256'],
    ['a negative exit status', '#!/bin/busybox sh\nexit -1\n', 2, 'exit -1'],
    ['a bare exit', '#!/bin/busybox sh\nexit\n', 2, 'exit'],
    [
      'an unquoted write',
      "#!/bin/busybox sh\n/bin/busybox printf '%s' hi > '/a'\nexit 0\n",
      2,
      "/bin/busybox printf '%s' hi > '/a'",
    ],
    [
      'a printf format other than %s',
      "#!/bin/busybox sh\n/bin/busybox printf 'hi' > '/a'\nexit 0\n",
      2,
      "/bin/busybox printf 'hi' > '/a'",
    ],
    [
      'an append redirect',
      "#!/bin/busybox sh\n/bin/busybox printf '%s' 'x' >> '/a'\nexit 0\n",
      2,
      "/bin/busybox printf '%s' 'x' >> '/a'",
    ],
    [
      'a relative write path',
      "#!/bin/busybox sh\n/bin/busybox printf '%s' 'x' > 'a'\nexit 0\n",
      2,
      "/bin/busybox printf '%s' 'x' > 'a'",
    ],
    [
      'an unterminated quote',
      "#!/bin/busybox sh\n/bin/busybox printf '%s' 'x > '/a'\nexit 0\n",
      2,
      "/bin/busybox printf '%s' 'x > '/a'",
    ],
    [
      'a trailing command on the write line',
      "#!/bin/busybox sh\n/bin/busybox printf '%s' 'x' > '/a'; reboot\nexit 0\n",
      2,
      "/bin/busybox printf '%s' 'x' > '/a'; reboot",
    ],
    [
      'a script without exec or exit',
      "#!/bin/busybox sh\n/bin/busybox printf '%s' 'x' > '/a'\n",
      3,
      '(end of script without exec or exit)',
    ],
    ['only a shebang', '#!/bin/busybox sh', 2, '(end of script without exec or exit)'],
  ])('rejects %s as not modelled', (_name, script, line, shown) => {
    const error = rejection(script);
    expect(hasCode(error, 'NotModelled')).toBe(true);
    expect((error as Error).message).toBe(
      `Failed to simulate init ${PATH}: line ${line} \`${shown}\` is not modelled`,
    );
  });

  it('counts lines inside multi-line quoted content when reporting', () => {
    const script = renderInit({
      writes: [{ path: '/a', content: 'one\ntwo\nthree' }],
      then: 'run',
    });
    const error = rejection(script.replace(/\n$/, '\nreboot\n'));
    expect((error as Error).message).toContain('line 6 `reboot`');
  });

  it('truncates a long offending line', () => {
    const error = rejection(`#!/bin/busybox sh\n${'x'.repeat(100)}\n`);
    expect((error as Error).message).toContain(`line 2 \`${'x'.repeat(60)}…\``);
  });
});
