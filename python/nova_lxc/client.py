"""HTTP/1.1 + JSON over the nova-lxc service's unix socket (service API v1)."""

import http.client
import json
import socket
import urllib.parse


class ServiceError(Exception):
    """A non-2xx answer: the service's DriverError code, message and hint."""

    def __init__(self, status, code, message, hint=None, nova_type=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.nova_type = nova_type

    def describe(self):
        return '%s (hint: %s)' % (self.message, self.hint) if self.hint else self.message


class ServiceUnavailable(Exception):
    """The socket is missing, refused the connection, or the service died mid-call."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, connect_timeout, request_timeout):
        super().__init__('localhost', timeout=request_timeout)
        self._path = path
        self._connect_timeout = connect_timeout

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self._connect_timeout)
            sock.connect(self._path)
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Client(object):
    """One connection per call: calls from nova-compute's green threads never share a socket."""

    def __init__(self, socket_path, connect_timeout=10.0, request_timeout=600.0):
        self.socket_path = socket_path
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout

    def call(self, method, path, body=None, query=None):
        url = '/v1' + path
        if query:
            url += '?' + urllib.parse.urlencode(query)
        headers = {'Accept': 'application/json'}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        conn = _UnixConnection(self.socket_path, self.connect_timeout, self.request_timeout)
        try:
            try:
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as error:
                raise ServiceUnavailable(
                    'Failed to call the nova-lxc service at %s (%s %s): %s. Check that it '
                    'runs (systemctl status nova-lxc.socket nova-lxc.service) and that '
                    '[nova_lxc] socket_path names its socket.'
                    % (self.socket_path, method, url, _reason(error))) from None
        finally:
            conn.close()
        try:
            answer = json.loads(raw.decode('utf-8')) if raw else {}
        except ValueError:
            raise ServiceError(response.status, 'Internal',
                               'The nova-lxc service answered %s %s with HTTP %d and a '
                               'body that is not JSON' % (method, url, response.status))
        if 200 <= response.status < 300:
            return answer
        error = answer.get('error') if isinstance(answer, dict) else None
        if not isinstance(error, dict):
            raise ServiceError(response.status, 'Internal',
                               'The nova-lxc service answered %s %s with HTTP %d'
                               % (method, url, response.status))
        raise ServiceError(response.status, error.get('code') or 'Internal',
                           error.get('message') or 'HTTP %d' % response.status,
                           error.get('hint'), error.get('nova_type'))

    # The endpoints of service API v1.
    def health(self):
        return self.call('GET', '/health')

    def host(self):
        return self.call('GET', '/host')

    def list_instances(self):
        return self.call('GET', '/instances')['instances']

    def show(self, uuid):
        return self.call('GET', '/instances/%s' % uuid)

    def spawn(self, uuid, spec):
        return self.call('PUT', '/instances/%s' % uuid, spec)

    def destroy(self, uuid, destroy_disks=True):
        return self.call('DELETE', '/instances/%s' % uuid,
                         query={'destroy_disks': 'true' if destroy_disks else 'false'})

    def reboot(self, uuid, reboot_type):
        return self.call('POST', '/instances/%s/reboot' % uuid, {'type': reboot_type})

    def power_off(self, uuid, timeout=0, retry_interval=0):
        return self.call('POST', '/instances/%s/power-off' % uuid,
                         {'timeout': timeout, 'retry_interval': retry_interval})

    def power_on(self, uuid):
        return self.call('POST', '/instances/%s/power-on' % uuid, {})

    def resume_on_host_boot(self, uuid):
        return self.call('POST', '/instances/%s/resume-on-host-boot' % uuid, {})

    def console(self, uuid):
        return self.call('GET', '/instances/%s/console' % uuid)['output']


def _reason(error):
    if isinstance(error, FileNotFoundError):
        return 'no such socket'
    if isinstance(error, ConnectionRefusedError):
        return 'connection refused (nothing listens)'
    if isinstance(error, PermissionError):
        return 'permission denied (is this user in the socket\'s group?)'
    if isinstance(error, socket.timeout):
        return 'timed out'
    if isinstance(error, http.client.RemoteDisconnected):
        return 'the service closed the connection without answering (did it restart?)'
    return '%s: %s' % (type(error).__name__, error)
