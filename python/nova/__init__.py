# A pkg_resources namespace portion, as Nova's own nova/__init__.py is, so that
# nova/virt/novalxc/ from this distribution is found next to Nova's packages.
__import__('pkg_resources').declare_namespace(__name__)
