"""The import graph of the zelos package (docs/architecture.md, "what may import what"), read
from the source with ``ast`` (nothing is imported):

- no import cycles among zelos modules, counting imports inside functions too (a lazy import
  that dodges a cycle at import time is still a circle in the design), except the known ones
  listed below, each to be removed;
- the Cobaya and MontePython plugins never import each other; the serving layer imports
  neither; the build imports neither, nor the learning loop (``zelos.learning``), which imports
  neither plugin; ``zelos.physics`` imports no zelos module;
- no module is longer than :data:`MAX_LINES` lines (issue 16: "no module over about 500 lines";
  a module that grows past it is split along its jobs, each new module named for its job).

Edges to the root package ``zelos`` (``from .. import __version__``) are left out: importing any
zelos module runs the root package first, so they add no order of their own.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(ROOT, "python")

#: Cycles known today, outside this graph's owners' reach for now (issue 16). Remove an entry
#: when its cycle is gone (the test says so).
KNOWN_CYCLES = [
    # emulator.py's JAX face (Emulator.pk under tracing) imports jax.py, which reads archives
    # through _graph, which resolves names with get_emulator and splines with pk_interp
    frozenset({"zelos._graph", "zelos.emulator", "zelos.jax", "zelos.pk_interp"}),
]


def _modules() -> dict:
    """``{module name: (path, is a package)}`` for every .py file under python/zelos."""
    out = {}
    for folder, _, files in os.walk(os.path.join(SOURCE, "zelos")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                dotted = os.path.relpath(path, SOURCE)[:-3].replace(os.sep, ".")
                package = dotted.endswith(".__init__")
                out[dotted[: -len(".__init__")] if package else dotted] = (path, package)
    return out


MODULES = _modules()

#: The longest a module under python/zelos may be, in lines.
MAX_LINES = 550
#: Modules allowed past MAX_LINES, each with why: none today. Add one only with a reason and
#: the issue that splits it.
LONG_MODULES = {}


def _imports(name: str) -> set:
    """The zelos modules ``name`` imports, anywhere in its source."""
    path, package = MODULES[name]
    here = name if package else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "zelos":
                    out.add(alias.name if alias.name in MODULES else alias.name.rsplit(".", 1)[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "zelos":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if sub in MODULES:
                    out.add(sub)
                elif alias.name != "_zelos":  # the Rust extension: no Python source, no edges
                    out.add(module)
    out -= {name, "zelos"}
    return out


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read_from_every_module():
    assert {"zelos.cobaya.theory", "zelos.montepython.cosmo", "zelos.serving.names", "zelos.routing"} <= set(GRAPH)
    assert "zelos.serving.names" in GRAPH["zelos.cobaya.needs"]
    assert "zelos.drivers.camb" in GRAPH["zelos.montepython.camb_class"]  # a lazy import counts


def test_no_import_cycles_but_the_known_ones():
    cycles = _cycles(GRAPH)
    new = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert not new, f"import cycles among zelos modules: {new}"
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert not gone, f"these known cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_the_plugins_never_import_each_other_and_the_serving_layer_build_and_learning_neither():
    def under(name, package):
        return name == package or name.startswith(package + ".")

    for a, b in (("zelos.cobaya", "zelos.montepython"), ("zelos.montepython", "zelos.cobaya"),
                 ("zelos.serving", "zelos.cobaya"), ("zelos.serving", "zelos.montepython"),
                 # the flow runs one way: build -> learning -> the plugins' hooks (docs/architecture.md)
                 ("zelos.build", "zelos.learning"), ("zelos.build", "zelos.cobaya"),
                 ("zelos.build", "zelos.montepython"), ("zelos.learning", "zelos.cobaya"),
                 ("zelos.learning", "zelos.montepython")):
        reach = {(m, i) for m, imports in GRAPH.items() if under(m, a) for i in imports if under(i, b)}
        assert not reach, f"{a} must not import {b}: {sorted(reach)}"
    assert GRAPH["zelos.physics"] == set()


def test_no_module_is_over_max_lines():
    lengths = {}
    for name, (path, _) in MODULES.items():
        with open(path, encoding="utf-8") as f:
            lengths[name] = sum(1 for _ in f)
    assert lengths["zelos.cobaya.theory"] > 100  # the lengths are read from the real files
    long = {name: n for name, n in lengths.items() if n > MAX_LINES and name not in LONG_MODULES}
    assert not long, f"modules over {MAX_LINES} lines (split them along their jobs): {sorted(long.items())}"
    stale = sorted(name for name in LONG_MODULES if lengths.get(name, 0) <= MAX_LINES)
    assert not stale, f"these modules are no longer over {MAX_LINES} lines: remove them from LONG_MODULES: {stale}"
