"""Runs `nova-lxc serve` from this repository for a test, on a private socket and state dir."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import fixtures

from nova_lxc import client as service_client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(REPO, 'bin', 'nova-lxc.js')


class NovaLxcServiceFixture(fixtures.Fixture):
    """`nova-lxc serve --backend <backend>`; `.client` calls it, `.log` is its output."""

    def __init__(self, instances_path, backend='sim', extra_args=()):
        super(NovaLxcServiceFixture, self).__init__()
        self.instances_path = instances_path
        self.backend = backend
        self.extra_args = list(extra_args)

    def _setUp(self):
        self.dir = tempfile.mkdtemp(prefix='nova-lxc-svc-')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.socket_path = os.path.join(self.dir, 'api.sock')
        self.log_path = os.path.join(self.dir, 'service.log')
        # NOVA_LXC_SERVE_PREFIX (a JSON list) replaces `node bin/nova-lxc.js` while developing.
        prefix = json.loads(os.environ.get('NOVA_LXC_SERVE_PREFIX') or 'null') or [
            'node', CLI]
        argv = prefix + ['serve',
                '--backend', self.backend, '--socket', self.socket_path,
                '--socket-mode', '0600', '--state-dir', os.path.join(self.dir, 'state'),
                '--instances-path', self.instances_path] + self.extra_args
        self._logfile = open(self.log_path, 'wb')
        self.addCleanup(self._logfile.close)
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=self._logfile,
                                     stderr=subprocess.STDOUT)
        self.addCleanup(self._stop)
        self.client = service_client.Client(self.socket_path, request_timeout=300)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('nova-lxc serve exited with %s:\n%s'
                                   % (self.proc.returncode, self.log))
            try:
                self.client.health()
                return
            except service_client.ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise RuntimeError('nova-lxc serve did not answer within 60 s:\n%s'
                                       % self.log)
                time.sleep(0.05)

    @property
    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def _stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
