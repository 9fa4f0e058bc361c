"""tools/test-nova.sh never skips: without Debian's Nova packages it says what to install and
exits non-zero (CI must not pass without running the Nova tests)."""

import os
import stat
import subprocess
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))), 'tools', 'test-nova.sh')


class RunnerScriptTest(unittest.TestCase):
    def test_missing_packages_name_the_install_command_and_fail(self):
        with tempfile.TemporaryDirectory() as fake_bin:
            # A dpkg-query that knows no package: the machine has none of them.
            path = os.path.join(fake_bin, 'dpkg-query')
            with open(path, 'w') as f:
                f.write('#!/bin/sh\nexit 1\n')
            os.chmod(path, stat.S_IRWXU)
            env = dict(os.environ, PATH=fake_bin + os.pathsep + os.environ['PATH'])
            result = subprocess.run(['bash', SCRIPT], env=env, capture_output=True, text=True)
        self.assertEqual(1, result.returncode, result.stderr)
        self.assertIn('python3-nova', result.stderr)
        self.assertIn('apt-get install --no-install-recommends python3-nova python3-oslotest '
                      'python3-placement python3-wsgi-intercept', result.stderr)
