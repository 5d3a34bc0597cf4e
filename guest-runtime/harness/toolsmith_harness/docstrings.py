"""Reading a docstring's summary and parameter descriptions in the three common styles:

Google::

    Args:
        path (str): The file to read.
            Continuation lines are indented further.
    Returns:
        The number of rows.

reST (Sphinx)::

    :param path: The file to read.
    :param str sep: The separator.
    :returns: The number of rows.

NumPy::

    Parameters
    ----------
    path : str
        The file to read.
    Returns
    -------
    int
        The number of rows.
"""

import inspect
import re

_GOOGLE_PARAMS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "kwargs", "other parameters"}
_GOOGLE_RETURNS = {"returns", "return", "yields", "yield"}
_GOOGLE_OTHER = {
    "raises", "raise", "examples", "example", "note", "notes", "see also", "warning", "warnings",
    "attributes", "todo", "references", "methods",
}
_NUMPY_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_REST_FIELD = re.compile(r"^:(param|parameter|arg|argument|key|keyword|returns?|type|rtype|raises?|except)\b([^:]*):\s*(.*)$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:\s*(.*)$")
_ANY_LINE = re.compile(r"^(.+)$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}[A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*\*{0,2}[A-Za-z_][A-Za-z0-9_]*)*)\s*(?::\s*(.*))?$")


class Docstring:
    def __init__(self, text="", summary="", params=None, returns=""):
        self.text = text
        self.summary = summary
        self.params = params or {}
        self.returns = returns


def _indent(line):
    return len(line) - len(line.lstrip())


def _join(lines):
    """Paragraph text from lines: single newlines become spaces, blank lines stay paragraphs."""
    paragraphs, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _summary(lines):
    first = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if first:
                break
            continue
        if _section_name(stripped) or _REST_FIELD.match(stripped):
            break
        first.append(stripped)
    return " ".join(first)


def _section_name(stripped):
    """The lower-cased Google section name of a header line such as `Args:`, else None."""
    if stripped.endswith(":") and not stripped.startswith(":"):
        name = stripped[:-1].strip().lower()
        if name in _GOOGLE_PARAMS or name in _GOOGLE_RETURNS or name in _GOOGLE_OTHER:
            return name
    return None


def _items(block, item_re):
    """Split an indented block into (header match, description lines) items: an item starts at
    the block's smallest indentation, its continuation lines are indented further."""
    items = []
    base = min((_indent(l) for l in block if l.strip()), default=0)
    for line in block:
        if not line.strip():
            if items:
                items[-1][1].append("")
            continue
        match = item_re.match(line.strip()) if _indent(line) <= base else None
        if match:
            items.append((match, []))
        elif items:
            items[-1][1].append(line)
    return items


def _names(field):
    return [n.strip().lstrip("*") for n in field.split(",") if n.strip()]


def _parse_google(lines, doc):
    i = 0
    while i < len(lines):
        name = _section_name(lines[i].strip())
        if not name:
            i += 1
            continue
        header_indent = _indent(lines[i])
        i += 1
        block = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > header_indent):
            block.append(lines[i])
            i += 1
        if name in _GOOGLE_PARAMS:
            for match, rest in _items(block, _GOOGLE_ITEM):
                text = _join([match.group(3)] + rest)
                for param in _names(match.group(1)):
                    doc.params.setdefault(param, text)
        elif name in _GOOGLE_RETURNS and not doc.returns:
            items = _items(block, _GOOGLE_ITEM)
            # "Returns:\n    int: the count" -> "the count"; free text stays as written.
            if len(items) == 1 and not items[0][0].group(2) and " " not in items[0][0].group(1):
                match, rest = items[0]
                doc.returns = _join([match.group(3)] + rest)
            else:
                doc.returns = _join(block)


def _parse_numpy(lines, doc):
    i = 0
    while i + 1 < len(lines):
        if not (lines[i].strip() and _NUMPY_UNDERLINE.match(lines[i + 1])):
            i += 1
            continue
        name = lines[i].strip().lower()
        i += 2
        block = []
        while i < len(lines) and not (i + 1 < len(lines) and lines[i].strip() and _NUMPY_UNDERLINE.match(lines[i + 1])):
            block.append(lines[i])
            i += 1
        if name in ("parameters", "other parameters", "keyword arguments"):
            for match, rest in _items(block, _NUMPY_ITEM):
                text = _join(rest)
                for param in _names(match.group(1)):
                    doc.params.setdefault(param, text)
        elif name in ("returns", "yields") and not doc.returns:
            items = _items(block, _ANY_LINE)  # "int", "list of float", "name : type"
            doc.returns = " ".join(_join(rest) or m.group(0).strip() for m, rest in items)


def _parse_rest(lines, doc):
    i = 0
    while i < len(lines):
        match = _REST_FIELD.match(lines[i].strip())
        if not match:
            i += 1
            continue
        kind, arg, first = match.group(1), match.group(2).strip(), match.group(3)
        base = _indent(lines[i])
        i += 1
        body = [first]
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > base and not _REST_FIELD.match(lines[i].strip()):
            body.append(lines[i])
            i += 1
        text = _join(body)
        if kind in ("param", "parameter", "arg", "argument", "key", "keyword") and arg:
            doc.params.setdefault(arg.split()[-1].lstrip("*"), text)
        elif kind in ("returns", "return") and not doc.returns:
            doc.returns = text


def parse(raw):
    """A Docstring from a function's `__doc__` (None gives an empty one)."""
    if not raw:
        return Docstring()
    text = inspect.cleandoc(raw)
    lines = text.splitlines()
    doc = Docstring(text=text, summary=_summary(lines))
    _parse_rest(lines, doc)
    _parse_numpy(lines, doc)
    _parse_google(lines, doc)
    return doc
