"""The package's shape: one door to Salt, no import cycle, small modules."""

import ast
import pathlib

import salt_ext_rest

PACKAGE = pathlib.Path(salt_ext_rest.__file__).parent
#: where ``import salt`` may appear: the gateway's package, the loader module, the one
#: exception mapping
SALT_DOORS = ("backend/", "netapi/", "eauth/", "errors.py")
MAX_LINES = 300


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield ".".join(parts), path


def imported(name, path):
    """Every module named by an import anywhere in the file (``TYPE_CHECKING`` and
    function bodies included), with ``from a import b`` giving ``a`` and ``a.b``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def graph():
    names = dict(modules())
    return {
        name: {m for m in imported(name, path) if m in names and m != name}
        for name, path in names.items()
    }


def cycle(edges):
    """One import cycle as a list of modules, or ``None``."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_modules():
    edges = graph()
    assert "salt_ext_rest.backend.gateway" in edges["salt_ext_rest.context"]
    assert cycle(edges) is None


def test_only_the_backend_imports_salt():
    outside = []
    for name, path in modules():
        rel = path.relative_to(PACKAGE).as_posix()
        salt = {m for m in imported(name, path) if m == "salt" or m.startswith("salt.")}
        if salt and not rel.startswith(SALT_DOORS):
            outside.append((rel, sorted(salt)))
    assert outside == []


def test_no_module_is_over_300_lines():
    long = {}
    for _, path in modules():
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long[path.relative_to(PACKAGE).as_posix()] = lines
    assert long == {}


def test_plugin_facing_names_resolve_from_salt_ext_rest_plugins():
    import salt_ext_rest.plugins as plugins

    resolved = {name: getattr(plugins, name) for name in plugins.__all__}
    assert resolved["Forbidden"].status == 403
    assert {"hookimpl", "ApiHandler", "BusEvent", "Identity", "RestError"} <= set(resolved)


def test_the_example_plugin_imports_only_salt_ext_rest_plugins():
    root = pathlib.Path(__file__).parents[1] / "plugin_example" / "src"
    modules = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
    assert {m for m in modules if m.startswith("salt_ext_rest")} == {"salt_ext_rest.plugins"}


def test_test_files_have_unique_names_across_unpackaged_tiers():
    """tests/unit and tests/integration are not packages: pytest imports their files by
    basename, so two files of one name stop the whole suite at collection."""
    tests = pathlib.Path(__file__).resolve().parents[1]
    seen: dict[str, str] = {}
    clashes = []
    for tier in ("unit", "integration"):
        for path in sorted((tests / tier).glob("test_*.py")):
            if path.name in seen:
                clashes.append(f"{seen[path.name]}/{path.name} and {tier}/{path.name}")
            seen[path.name] = tier
    assert clashes == []
