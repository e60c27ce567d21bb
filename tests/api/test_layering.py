"""The API package is transport only: no module in settings_portal/api imports a feature app,
neither at the top nor inside a function (issue 10: the apps register hooks instead)."""

import ast
from pathlib import Path

import settings_portal.api

FEATURE_APPS = {"accounts", "workspaces", "access", "vaults", "resources", "billing", "identity", "gateway"}
API_DIR = Path(settings_portal.api.__file__).parent


def imported_modules(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
            "import_module",
            "__import__",
            "get_model",
        }:
            names += [
                arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
    return names


def feature_imports(source: str) -> list[str]:
    return [name for name in imported_modules(source) if name.split(".")[0] in FEATURE_APPS]


def test_the_check_sees_every_kind_of_import():
    sample = (
        "import workspaces\nfrom billing import metering\n"
        "def f():\n    from access.impersonation import x\n    import_module('vaults.api')\n"
        "from settings_portal.http import client_ip\n"
    )
    assert feature_imports(sample) == ["workspaces", "billing", "access.impersonation", "vaults.api"]


def test_no_module_of_the_api_transport_imports_a_feature_app():
    modules = sorted(API_DIR.glob("*.py"))
    assert len(modules) >= 8  # the whole package is checked
    found = {path.name: feature_imports(path.read_text()) for path in modules}
    assert {name: imports for name, imports in found.items() if imports} == {}
