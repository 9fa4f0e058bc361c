# A pkg_resources namespace portion, as Nova's own nova/virt/__init__.py is: Nova loads a
# compute driver only as nova.virt.<compute_driver>, so out-of-tree drivers add a module here.
__import__('pkg_resources').declare_namespace(__name__)
