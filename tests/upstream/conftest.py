from .fixtures import clearml_upstream, clearml_upstream_factory, upstream_as  # noqa: F401
