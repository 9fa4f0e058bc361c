"""Each test module, imported as unittest imports it (first, in a fresh process), leaves Nova's
DB transactions per green thread, as nova-compute has them: a reader open in one green thread
is not seen by a writer in another."""

import os
import subprocess
import sys
import unittest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def all_test_modules():
    """Every test module under tests/ (what tools/test-nova.sh runs), and the bench's."""
    names = ['tests.bench_nova']
    for package in ('unit', 'functional'):
        for name in sorted(os.listdir(os.path.join(PYTHON_DIR, 'tests', package))):
            if name.startswith('test_') and name.endswith('.py'):
                names.append('tests.%s.%s' % (package, name[:-3]))
    return names


READER_THEN_WRITER = '''
import importlib, sys
importlib.import_module(sys.argv[1])
import eventlet
from oslo_db.sqlalchemy import enginefacade

facade = enginefacade.transaction_context()
facade.configure(connection='sqlite://')


@enginefacade.transaction_context_provider
class Context(object):
    pass


context = Context()
errors = []


def reader():
    with facade.reader.using(context):
        eventlet.sleep(0.05)


def writer():
    try:
        with facade.writer.using(context):
            pass
    except TypeError as error:
        errors.append(str(error))


first = eventlet.spawn(reader)
eventlet.sleep(0.01)
second = eventlet.spawn(writer)
first.wait()
second.wait()
print(errors)
'''


class GreenTransactionsTest(unittest.TestCase):
    def test_a_reader_in_one_green_thread_is_not_a_writers_in_another(self):
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
        modules = all_test_modules()
        self.assertIn('tests.functional.test_servers_real', modules)
        for module in modules:
            with self.subTest(module=module):
                result = subprocess.run(
                    [sys.executable, '-c', READER_THEN_WRITER, module], cwd=PYTHON_DIR,
                    env=env, capture_output=True, text=True, timeout=120)
                self.assertEqual(0, result.returncode, result.stderr)
                self.assertEqual('[]', result.stdout.strip().splitlines()[-1], result.stderr)


if __name__ == '__main__':
    unittest.main()
