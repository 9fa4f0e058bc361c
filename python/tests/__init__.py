# Nova's eventlet monkey patching first, before anything of Nova or oslo is imported: nova-compute
# does it first (nova/cmd), and Nova's own test packages do (nova/tests/functional/__init__.py).
# Patched later, oslo.db's per-thread transaction state stays native-thread-local, shared by
# every green thread: a writer in one then finds another's reader and fails with "Can't upgrade
# a READER transaction to a WRITER mid-transaction" (a TypeError: CI saw it in compute_node.save).
import nova.monkey_patch  # noqa: F401
