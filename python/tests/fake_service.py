"""A stand-in nova-lxc service on a unix socket: canned answers, recorded requests.

The unit tests use it so what the driver sends goes over the real HTTP client and socket.
It runs as a child process (nova.test monkey-patches with eventlet, whose hub a server thread
in the test process would block): answers are read from <dir>/answers.json on each request,
requests are appended to <dir>/requests.jsonl.
"""

import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import time
import urllib.parse

HOST = {
    'vcpus': 4, 'memory_mb': 8192, 'local_gb': 100, 'vcpus_used': 1,
    'memory_mb_used': 512, 'local_gb_used': 1, 'hypervisor_type': 'lxc',
    'hypervisor_version': 9000000, 'hypervisor_hostname': 'sim-host',
    'cpu_info': '{"arch": "x86_64"}', 'supported_instances': [['x86_64', 'lxc', 'exe']],
    'disk_available_least': 90,
}

VIEW = {
    'uuid': None, 'name': 'instance-00000001', 'power_state': 1, 'state': 'running',
    'root': {'source': '/dev/loop3', 'device': '/dev/loop4', 'partition': 1,
             'fstype': 'ext4', 'offset': 1048576, 'size': 104857600, 'mount': None},
    'domain': {'name': 'instance-00000001', 'uuid': 'f4c0ffee-0000-4000-8000-000000000001'},
    'journal': [],
}


def default_answer(method, path):
    if method == 'GET' and path == '/v1/health':
        return 200, {'status': 'ok', 'version': '0.1.0', 'backend': 'sim'}
    if method == 'GET' and path == '/v1/host':
        return 200, HOST
    if method == 'GET' and path == '/v1/instances':
        return 200, {'instances': []}
    if method == 'DELETE':
        return 200, {'deleted': True}
    return 200, VIEW


class FakeService(object):
    """The test side: starts the child, sets answers, reads what it received."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='nova-lxc-fake-')
        self.socket_path = os.path.join(self.dir, 'api.sock')
        self.answers = []
        self._write_answers()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), self.dir])
        # The socket file appears at bind(), before listen(): wait until a connect succeeds.
        deadline = time.monotonic() + 30
        while not self._accepts():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('the fake nova-lxc service did not start')
            time.sleep(0.02)

    def _accepts(self):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.socket_path)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def _write_answers(self):
        tmp = os.path.join(self.dir, 'answers.json.tmp')
        with open(tmp, 'w') as f:
            json.dump(self.answers, f)
        os.rename(tmp, os.path.join(self.dir, 'answers.json'))

    def answer(self, method, prefix, status, body):
        """Answers requests whose path starts with prefix; the latest setting wins."""
        self.answers.insert(0, [method, prefix, status, body])
        self._write_answers()

    def error(self, method, prefix, status, code, message, hint=None, nova_type=None):
        self.answer(method, prefix, status, {'error': {
            'code': code, 'message': message, 'hint': hint, 'nova_type': nova_type}})

    @property
    def requests(self):
        try:
            with open(os.path.join(self.dir, 'requests.jsonl')) as f:
                return [json.loads(line) for line in f]
        except FileNotFoundError:
            return []

    def last(self, method=None):
        found = [r for r in self.requests if method is None or r['method'] == method]
        return found[-1] if found else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 64


def serve(directory):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            url = urllib.parse.urlsplit(self.path)
            record = {'method': self.command, 'path': url.path,
                      'query': dict(urllib.parse.parse_qsl(url.query)),
                      'body': json.loads(raw) if raw else None}
            with open(os.path.join(directory, 'requests.jsonl'), 'a') as f:
                f.write(json.dumps(record) + '\n')
            with open(os.path.join(directory, 'answers.json')) as f:
                answers = json.load(f)
            for method, prefix, status, body in answers:
                if method == self.command and url.path.startswith(prefix):
                    break
            else:
                status, body = default_answer(self.command, url.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = _serve

        def address_string(self):
            return 'unix'

        def log_message(self, *args):
            pass

    server = _Server(os.path.join(directory, 'api.sock'), Handler)
    server.serve_forever()


if __name__ == '__main__':
    serve(sys.argv[1])
