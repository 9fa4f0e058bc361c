"""The functional tests' failure detail: the tracebacks Nova logged, each record whole."""

import unittest

from tests.functional.base import logged_tracebacks

LOG = '''2026-12-01 18:10:14,426 INFO [nova.compute.manager] Terminating instance
2026-12-01 18:10:14,508 ERROR [nova.compute.manager] Setting instance vm_state to ERROR
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/nova/compute/manager.py", line 3221, in do_terminate_instance
    self._delete_instance(context, instance, bdms)
TypeError: SQLite DateTime type only accepts Python datetime and date objects as input.
2026-12-01 18:10:14,541 INFO [nova.api.openstack.requestlog] "DELETE /v2.1/servers/x" status: 500
2026-12-01 18:10:14,542 ERROR [nova.api.openstack.wsgi] Unexpected exception in API method
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/nova/api/openstack/wsgi.py", line 658, in wrapped
TypeError: second
2026-12-01 18:10:14,543 WARNING [nova.compute.manager] no traceback here'''


class LoggedTracebacksTest(unittest.TestCase):
    def test_each_record_with_a_traceback_whole_and_in_order(self):
        blocks = logged_tracebacks(LOG)
        self.assertEqual(2, len(blocks))
        self.assertTrue(blocks[0].startswith('2026-12-01 18:10:14,508 ERROR'), blocks[0])
        self.assertTrue(blocks[0].endswith('and date objects as input.'), blocks[0])
        self.assertNotIn('requestlog', blocks[0])
        self.assertTrue(blocks[1].endswith('TypeError: second'), blocks[1])

    def test_only_the_last_ones(self):
        self.assertEqual(['TypeError: second'],
                         [b.splitlines()[-1] for b in logged_tracebacks(LOG, limit=1)])

    def test_none_without_a_traceback(self):
        self.assertEqual([], logged_tracebacks('2026-12-01 18:10:14,426 INFO [x] fine'))


if __name__ == '__main__':
    unittest.main()
