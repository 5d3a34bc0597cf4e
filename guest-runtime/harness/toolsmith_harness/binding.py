"""Which statements bind a name in one scope, read from the AST without running anything.

`describe` needs to know that the function it reads is the only thing its name is bound to, and
`run-tests` that each test it counts is still bound to its name when the module has run: both ask
for every binding of one name in a module's (or a class's) scope.
"""

import ast

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _declares_global(body, name):
    """Whether a function (or class) body says `global name`, its nested scopes aside."""
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Global) and name in node.names:
            return True
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _outer_parts(node):
    """The parts of a def, class or lambda that run in the enclosing scope."""
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords]
    args = node.args
    parts = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    if isinstance(node, _FUNCTIONS):
        parts += node.decorator_list
        parts += [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation]
        parts += [a.annotation for a in (args.vararg, args.kwarg) if a is not None and a.annotation]
        if node.returns is not None:
            parts.append(node.returns)
    return parts


def _binds(node, name):
    """Whether `node` itself binds (or deletes) `name` where it stands."""
    if isinstance(node, ast.Name):
        return node.id == name and isinstance(node.ctx, (ast.Store, ast.Del))
    if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Import):
        return any((a.asname or a.name.split(".")[0]) == name for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return any(a.name == "*" or (a.asname or a.name) == name for a in node.names)
    if isinstance(node, ast.ExceptHandler):
        return node.name == name
    if isinstance(node, (ast.MatchAs, ast.MatchStar)):
        return node.name == name
    if isinstance(node, ast.MatchMapping):
        return node.rest == name
    return False


def scope_bindings(body, name, module=True):
    """The nodes among the statements `body` of one scope (a module's, or a class's when `module`
    is false) that bind or delete `name` in that scope, in source order: assignments of every
    kind, `del`, imports (`from m import *` counts: it may bind anything), defs, classes, `for`,
    `with`, `except ... as`, `match` captures, walrus targets (inside comprehensions too) and, for a
    module, any binding in a nested function or class that declares the name `global`."""
    found = []
    stack = [(node, True) for node in reversed(body)]
    while stack:
        node, here = stack.pop()
        if here and _binds(node, name):
            found.append(node)
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef, ast.Lambda)):
            children = [(child, here) for child in _outer_parts(node)]
            if module and not isinstance(node, ast.Lambda):
                inner = _declares_global(node.body, name)
                children += [(child, inner) for child in node.body]
        elif isinstance(node, _COMPREHENSIONS):
            # Loop variables are the comprehension's own; a walrus inside binds where it stands.
            children = []
            for generator in node.generators:
                children += [(generator.iter, here)] + [(test, here) for test in generator.ifs]
            children += [(child, here) for child in ast.iter_child_nodes(node) if not isinstance(child, ast.comprehension)]
        else:
            children = [(child, here) for child in ast.iter_child_nodes(node)]
        stack.extend(reversed(children))
    found.sort(key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
    return found


def describe_binding(node):
    """A few words for what binds the name at `node`: 'an assignment (line 3)'."""
    if isinstance(node, _FUNCTIONS):
        what = "a decorated def" if node.decorator_list else "a def"
    elif isinstance(node, ast.ClassDef):
        what = "a class"
    elif isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
        what = f"'from {node.module} import *'"
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        what = "an import"
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
        what = "a del"
    elif isinstance(node, ast.ExceptHandler):
        what = "an 'except ... as'"
    else:
        what = "an assignment"
    return f"{what} (line {getattr(node, 'lineno', '?')})"
