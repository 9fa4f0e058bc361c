"""The distribution builds offline and, installed into its own site directory, is what
Nova's load_compute_driver imports for compute_driver = novalxc.driver.NovaLxcDriver."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LOAD = '''
import site, sys
site.addsitedir(sys.argv[1])
import nova.conf
from nova.virt import driver
d = driver.load_compute_driver(None, 'novalxc.driver.NovaLxcDriver')
print(type(d).__module__, type(d).__name__)
import nova_lxc
print(nova_lxc.__file__)
'''


class DistributionTest(unittest.TestCase):
    def test_wheel_installs_and_nova_loads_the_driver_from_it(self):
        work = tempfile.mkdtemp(prefix='nova-lxc-dist-')
        self.addCleanup(shutil.rmtree, work, True)
        src = os.path.join(work, 'src')
        shutil.copytree(SOURCE, src, ignore=shutil.ignore_patterns(
            'tests', '__pycache__', 'build', '*.egg-info'))
        pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q']
        subprocess.run(pip + ['wheel', '--no-build-isolation', '--no-deps', '--no-index',
                              '-w', os.path.join(work, 'wheel'), src],
                       check=True, capture_output=True, cwd=work)
        (wheel,) = os.listdir(os.path.join(work, 'wheel'))
        site_dir = os.path.join(work, 'site')
        subprocess.run(pip + ['install', '--no-deps', '--no-index', '--target', site_dir,
                              os.path.join(work, 'wheel', wheel)],
                       check=True, capture_output=True, cwd=work)
        env = dict(os.environ)
        env.pop('PYTHONPATH', None)
        out = subprocess.run([sys.executable, '-c', LOAD, site_dir], check=True,
                             capture_output=True, text=True, cwd=work, env=env).stdout
        lines = out.split('\n')
        self.assertEqual('nova_lxc.driver NovaLxcDriver', lines[0])
        self.assertTrue(lines[1].startswith(site_dir), lines[1])
