"""LaTeX documents from templates: the Jinja2 environment and the data each template gets.

Delimiters that cannot collide with LaTeX: ``\\BLOCK{...}`` for statements, ``\\VAR{...}``
for values, ``\\#{...}`` for comments; a line starting with ``%%`` is a line statement.
A missing variable is an error (never a blank number in a key).

Escaping happens here, at the boundary, so that a template cannot forget it: whatever a
template prints is put through ``finalize``, which lets ``Tex`` (made only by the LaTeX
printer, the number policy and ``escape_tex``) through as it is, escapes every other
string, and refuses SymPy objects (every expression goes through the printer first).
Macros return ``Tex`` (what they print was escaped inside them), and ``join`` escapes
each item that is not ``Tex``. Templates only lay out what a Solution holds.

Templates from anywhere but the instructor's own command line (a server) are rendered
in Jinja's sandbox: ``environment(..., sandboxed=True)``.

A variants run renders thousands of documents from the same templates, so the compiled
code is Jinja's with a few shortcuts that change no output: values printed and attributes
read inline (outside the sandbox), plain macro calls made directly, and an included
template that reads the same data as before gives its earlier text (``_Tex.included``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.compiler
import jinja2.meta
import jinja2.nodes
import jinja2.runtime
import jinja2.sandbox
import jinja2.utils
import sympy as sp
from jinja2.utils import concat, missing

from . import key_tables, optimizer_key, questions, theory, training_tex
from .activations import ACTIVATIONS
from .errors import DeriveError
from .latex import Tex, escape_tex, latex_name, symbol_tex
from .losses import LOSSES
from .rounding import given_text
from .solution import ChainLine, Line, ShownFactor
from .solution import _width as printed_width

__all__ = ["environment", "render", "context", "escape_tex", "SHEET", "KEY"]  # escape_tex: for old imports

SHEET, KEY = "sheet.tex.j2", "solution.tex.j2"


def finalize(value: Any) -> Any:
    """What a template prints, as text: ``Tex`` as it is, any other text escaped, numbers
    as Python writes them; a SymPy object is refused."""
    kind = type(value)  # the exact types first: a key prints hundreds of values
    if kind is Tex:
        return value
    if kind is str:
        return _escaped(value)
    if kind in _NUMBERS:
        return str(value)
    if isinstance(value, Tex):
        return value
    if isinstance(value, str):
        return escape_tex(value)
    if isinstance(value, sp.Basic):
        raise TypeError(f"a SymPy object reached a template unprinted: {value!r}")
    if isinstance(value, (bool, int, float)) or value is None:
        return str(value)
    return escape_tex(str(value))


_NUMBERS = frozenset({int, float, bool, type(None)})


def _escaped(text: str) -> Tex:
    """``escape_tex`` of a ``str``, kept for short texts: a document prints the same words
    ("step", " = ") dozens of times, and each costs a regular expression."""
    escaped = _ESCAPED.get(text)
    if escaped is None:
        escaped = escape_tex(text)
        if len(text) <= 40 and len(_ESCAPED) < 4096:
            _ESCAPED[text] = escaped
    return escaped


_ESCAPED: dict[str, Tex] = {}


class _TexMacro(jinja2.runtime.Macro):
    """A macro's output is made of template text and values that were finalized (escaped)
    inside it: it is TeX, and printing it must not escape it a second time."""

    def __init__(self, environment, func, name, arguments, catch_kwargs, catch_varargs, caller,
                 default_autoescape=None, reads=None):
        super().__init__(environment, func, name, arguments, catch_kwargs, catch_varargs, caller, default_autoescape)
        fast = environment.shortcuts and not environment.sandboxed
        self._twin = _twins().get((func.__code__.co_filename, name)) if fast else None
        # see _CodeGenerator.macro_def; a macro whose texts were never used again is run
        self._reads = reads if fast and func.__code__ not in environment.__dict__.get("_macros_run", ()) else None

    def _invoke(self, arguments, autoescape):
        return Tex(super()._invoke(arguments, autoescape))


class _TexContext(jinja2.runtime.Context):
    """Jinja's context, with a macro called by the shortest way where its call is plain
    (its positional arguments, all of them, and no ``caller``): Jinja's way sorts out
    keywords, defaults and the calling context's escaping first, which costs more than
    many a macro's body, and a key calls a couple of dozen."""

    @jinja2.utils.internalcode
    def call(__self, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        if (type(__obj) is _TexMacro and len(args) == __obj._argument_count and kwargs.keys() <= _LOOP_KEYS
                and not (__obj.caller or __obj.catch_kwargs or __obj.catch_varargs)):
            if __obj._twin is not None and (text := __obj._twin(*args)) is not None:
                return text
            if __obj._reads is not None:
                return __self.environment.macro_text(__obj, args)
            try:
                return Tex(__obj._func(*args))
            except StopIteration:
                return __self.environment.undefined("value was undefined because a callable raised a"
                                                    " StopIteration exception")
        return super().call(__obj, *args, **kwargs)


_LOOP_KEYS = frozenset({"_loop_vars", "_block_vars"})  # what the compiled code passes for a pass_context callable


class _CodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja's code generator, with macros made as ``_TexMacro`` (Jinja 3.1's
    ``macro_def`` with the class name changed and what the macro reads added; the tests
    render macros, so a Jinja that changes this fails them rather than escaping twice)."""

    def visit_Template(self, node, frame=None) -> None:
        self._root = node  # for macro_def: the template's other macros
        super().visit_Template(node, frame)

    def macro_def(self, macro_ref, frame) -> None:
        arg_tuple = ", ".join(repr(x.name) for x in macro_ref.node.args)
        name = getattr(macro_ref.node, "name", None)
        if len(macro_ref.node.args) == 1:
            arg_tuple += ","
        reads = None
        if isinstance(macro_ref.node, jinja2.nodes.Macro) and not (
                macro_ref.accesses_kwargs or macro_ref.accesses_varargs or macro_ref.accesses_caller):
            reads = macro_reads(macro_ref.node, getattr(self, "_root", None))
        self.write(
            f"environment.macro_class(environment, macro, {name!r}, ({arg_tuple}),"
            f" {macro_ref.accesses_kwargs!r}, {macro_ref.accesses_varargs!r},"
            f" {macro_ref.accesses_caller!r}, context.eval_ctx.autoescape, {reads!r})"
        )

    # A key prints hundreds of values and reads over a thousand attributes: the two are
    # written inline, without a call each where the value is plain.

    def _output_child_pre(self, node, frame, finalize) -> None:
        """A value is printed as ``finalize`` makes it, a ``str`` (Jinja's ``str(...)``
        around it is left out); ``Tex``, most of what a key prints, as it is."""
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape or finalize.src is None:
            return super()._output_child_pre(node, frame, finalize)
        self.write("(_f if type(_f := ")

    def _output_child_post(self, node, frame, finalize) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape or finalize.src is None:
            return super()._output_child_post(node, frame, finalize)
        self.write(f") is environment.tex else {finalize.src}_f))")

    def visit_Getattr(self, node, frame) -> None:
        """``a.b``: a dict's item or an object's attribute read directly; anything else (a
        missing one, a dict's own method names) through ``environment.getattr``. The
        sandbox checks every attribute, so its templates keep Jinja's call."""
        if self.environment.sandboxed or self.environment.is_async or node.attr in _DICT_ATTRIBUTES:
            return super().visit_Getattr(node, frame)
        attr = repr(node.attr)
        self.write(f"(_o[{attr}] if type(_o := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {attr} in _o else (_v if (_v := getattr(_o, {attr}, missing)) is not missing"
                   f" else environment.getattr(_o, {attr})))")

    def visit_Include(self, node, frame) -> None:
        """``include`` with its context, as ``environment.included`` (see there); an
        include that may be missing, or one without context, as Jinja writes it."""
        if node.ignore_missing or not node.with_context or self.environment.is_async:
            return super().visit_Include(node, frame)
        func_name = "get_or_select_template"
        if isinstance(node.template, jinja2.nodes.Const):
            if isinstance(node.template.value, str):
                func_name = "get_template"
            elif isinstance(node.template.value, (tuple, list)):
                func_name = "select_template"
        elif isinstance(node.template, (jinja2.nodes.Tuple, jinja2.nodes.List)):
            func_name = "select_template"
        self.writeline(f"template = environment.{func_name}(", node)
        self.visit(node.template, frame)
        self.write(f", {self.name!r})")
        self.simple_write(f"environment.included(template, context, {self.dump_local_context(frame)})", frame)


# --- macros whose text is a function of a few attributes of their arguments -------------

# What a macro may hold to have its text depend on its arguments alone: no statement that
# reaches outside it (include, import, call blocks, namespaces), no call but of another
# such macro of the template, no filter with a result of its own (random).
_PURE_NODES = tuple(getattr(jinja2.nodes, n) for n in (
    "Output", "TemplateData", "Const", "Name", "Getattr", "Getitem", "Slice", "If", "For", "Assign",
    "Filter", "Test", "Compare", "Operand", "And", "Or", "Not", "Neg", "Pos", "Add", "Sub", "Mul", "Div",
    "FloorDiv", "Mod", "Pow", "Concat", "CondExpr", "Tuple", "List", "Dict", "Pair", "Keyword", "Call"))
_IMPURE_FILTERS = frozenset({"random"})


def macro_reads(macro: jinja2.nodes.Macro, root: jinja2.nodes.Template | None) -> tuple | None:
    """What a top-level macro's text depends on, as ``(argument index, attribute)`` pairs
    (attribute None: the whole argument): it reads its arguments only as ``argument.attribute``
    and nothing from the template's data, so the same values read give the same text
    (``_Tex.macro_text``). None where the text may depend on anything else."""
    if root is None or not any(node is macro for node in root.body):
        return None
    macros = _top_macros(root)
    used: dict[str, jinja2.nodes.Macro] = {}
    if not _pure(macro, macros, used):
        return None
    # Jinja's own account of the names the macros look up in the template's data: none
    probe = jinja2.nodes.Template(list(used.values()), lineno=1).set_environment(root.environment)
    if jinja2.meta.find_undeclared_variables(probe):
        return None
    params = {a.name: i for i, a in enumerate(macro.args)}
    reads = set()
    for node, parent in _walk(macro, None):
        if isinstance(node, jinja2.nodes.Name) and node.ctx == "load" and node.name in params:
            attr = parent.attr if isinstance(parent, jinja2.nodes.Getattr) and parent.node is node else None
            reads.add((params[node.name], attr))
    return tuple(sorted(reads, key=lambda r: (r[0], r[1] is not None, r[1] or "")))


def _top_macros(root: jinja2.nodes.Template) -> dict[str, jinja2.nodes.Macro]:
    """The template's top-level macros by name, leaving out a name that is also bound
    otherwise (set, for, import, a second macro): a call by that name may reach another."""
    bound: dict[str, int] = {}
    for node, _ in _walk(root, None):
        if isinstance(node, jinja2.nodes.Name) and node.ctx in ("store", "param"):
            bound[node.name] = bound.get(node.name, 0) + 1
        elif isinstance(node, jinja2.nodes.Macro):
            bound[node.name] = bound.get(node.name, 0) + 1
        elif isinstance(node, jinja2.nodes.Import):
            bound[node.target] = bound.get(node.target, 0) + 2
        elif isinstance(node, jinja2.nodes.FromImport):
            for name in node.names:
                name = name[1] if isinstance(name, tuple) else name
                bound[name] = bound.get(name, 0) + 2
    top = [n for n in root.body if isinstance(n, jinja2.nodes.Macro)]
    return {n.name: n for n in top if bound.get(n.name) == 1}


def _pure(macro: jinja2.nodes.Macro, macros: dict, used: dict) -> bool:
    """Whether ``macro`` and the macros it calls hold only what ``_PURE_NODES`` allows,
    and call only top-level macros of the template that no name of theirs hides."""
    if macro.name in used:
        return True
    used[macro.name] = macro
    local = {n.name for n, _ in _walk(macro, None) if isinstance(n, jinja2.nodes.Name) and n.ctx != "load"}
    if local & macros.keys():
        return False
    for node, _ in _walk(macro, None):
        if node is macro:
            continue
        if not isinstance(node, _PURE_NODES):
            return False
        if isinstance(node, jinja2.nodes.Filter) and node.name in _IMPURE_FILTERS:
            return False
        if isinstance(node, jinja2.nodes.Call):
            if (not isinstance(node.node, jinja2.nodes.Name) or node.node.name not in macros
                    or node.dyn_args is not None or node.dyn_kwargs is not None
                    or not _pure(macros[node.node.name], macros, used)):
                return False
    return True


def _walk(node: jinja2.nodes.Node, parent):
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _walk(child, node)


def _read(obj: Any, attr: str | None) -> Any:
    """``obj.attr`` as a template reads it, for comparing with an earlier read; an
    attribute that cannot be read gives what equals nothing (the macro, run, says why)."""
    if attr is None:
        return obj
    if type(obj) is dict and attr not in _DICT_ATTRIBUTES:
        return obj[attr] if attr in obj else object()
    try:
        value = getattr(obj, attr, missing)
        return value if value is not missing else obj[attr]
    except Exception:
        return object()


def _join(items, separator: str = "") -> Tex:
    """Jinja's ``join``, escaping each item (and the separator) that is not ``Tex``."""
    return Tex((separator if type(separator) is Tex else _escaped(str(separator))).join(
        [i if type(i) is Tex else escape_tex(i if isinstance(i, str) else str(i)) for i in items]))


# --- twins: built-in macros that a key calls dozens of times, written in Python ---------
#
# A twin gives the text its macro gives, for the data the program makes (anything else:
# None, and the macro is run). It stands in only for the built-in template's own macro,
# and only while that macro's text is the one it was written from (``digest``): a
# template of the instructor's, or a built-in one changed since, is rendered as Jinja
# renders it. tests/test_render_twins.py holds each twin to its macro.


def _key_lines(items) -> Tex | None:
    """``lines(items)`` of solution.tex.j2: a key's calculation, a line per quantity."""
    if type(items) is not tuple:
        return None
    out: list[str] = []
    put = out.append
    last_chain = None  # the line before: a chain, or None for the first line
    for line in items:
        kind = type(line)
        if kind is ChainLine:
            chain = True
        elif kind is Line:
            chain = False
        else:
            return None
        if last_chain is not None:
            put(" \\\\[0.6em]" if chain or last_chain else " \\\\")
        last_chain = chain
        if chain and line.forms:
            put(_tex(line.lhs))
            put(" &= ")
            for p, path in enumerate(line.paths):
                if p:
                    put(" + ")
                for i, f in enumerate(path):
                    if type(f) is not ShownFactor:
                        return None
                    if i:
                        put("\\,")
                    put(_tex(f.partial))
            out += (" = ", _join(line.forms, " = "), " ", _tex(line.relation), " ", _tex(line.value), "\n")
        elif chain:
            put(_tex(line.lhs))
            put(" &= ")
            for p, path in enumerate(line.paths):
                if p:
                    put(" \\\\* &\\quad + ")
                for i, f in enumerate(path):
                    if type(f) is not ShownFactor:
                        return None
                    if i:
                        put("\\;")
                    out += ("\\chainfactor{", _tex(f.partial), "}{= ", _tex(f.closed))
                    if f.closed != f.value:
                        put(" \\\\ = ")
                        put(_tex(f.value))
                    put("}")
            put(" \\\\*\n  &= ")
            for n, number in enumerate(line.numbers):
                if n:
                    put(" \\\\* &\\quad")
                put(_tex(number))
            out += (" ", _tex(line.relation), " ", _tex(line.value), "\n")
        else:
            forms, first_row = line.forms, line.first_row
            put(_tex(line.lhs))
            put(" &= ")
            put(_join(forms[:first_row], " = "))
            if first_row < len(forms):
                put(" \\\\* &= ")
                put(_join(forms[first_row:], " = "))
            if line.value not in forms:
                out += (" ", _tex(line.relation), " ", _tex(line.value))
            if line.note == "frozen":
                put(" \\quad\\text{(held fixed)}")
    return Tex("".join(out))


def _tex(value: Any) -> str:
    """A value as a template prints it."""
    return value if type(value) is Tex else finalize(value)


TWINS = {(KEY, "lines"): (_key_lines, "e5d575dc7f1d4f17")}  # (template, macro): (twin, digest)


@functools.cache
def _twins() -> dict[tuple[str, str], Any]:
    """The twins whose macros are as they were written from, by (file of the template as
    the loader names it, macro)."""
    loader = jinja2.FileSystemLoader(str(builtin_templates()))
    found = {}
    for (name, macro), (twin, digest) in TWINS.items():
        source, filename, _ = loader.get_source(None, name)
        if macro_digest(source, macro) == digest:
            found[filename, macro] = twin
    return found


def macro_digest(source: str, macro: str) -> str | None:
    """The digest of a macro's text in a template's source (None: not there)."""
    found = re.search(r"\\BLOCK\{macro %s\(.*?\\BLOCK\{endmacro\}" % re.escape(macro), source, re.S)
    return hashlib.sha256(found.group(0).encode()).hexdigest()[:16] if found else None


class _Tex:
    """What both environments share: TeX delimiters, escaping, strict undefined, and
    included templates rendered once for the same data."""

    code_generator_class = _CodeGenerator
    macro_class = _TexMacro
    context_class = _TexContext
    tex = Tex  # what the templates' code prints without a call to finalize
    shortcuts = True  # False: every macro is run as written (the tests hold twins and kept texts to that)

    @jinja2.utils.internalcode
    def get_template(self, name, parent=None, globals=None):
        """Jinja's, with the templates loaded kept by name: a run reads each template once
        (``auto_reload`` is off), and a look-up in Jinja's own cache costs microseconds, a
        dozen of them per variant."""
        if globals is not None or type(name) is not str:
            return super().get_template(name, parent, globals)
        if parent is not None:
            name = self.join_path(name, parent)
        loaded = self.__dict__.setdefault("_loaded", {})
        template = loaded.get(name)
        if template is None:
            template = loaded[name] = super().get_template(name)
        return template

    def included(self, template: jinja2.Template, context: jinja2.runtime.Context, local: dict) -> str:
        """An included template's text. A template that reads what every variant of an
        exercise shares (the figure, the conventions) gives the same text for each, so the
        last few texts of each template are kept with what the template read to make them
        (everything it reads, its own includes' reads among them), and one is used again
        when the template would read the same now (``_same``)."""
        names = self._reads(template.name)
        if names is None:  # an include whose name is computed: what it reads is not known
            return concat(template.root_render_func(template.new_context(context.get_all(), True, local)))
        read = tuple(v if (v := local.get(n, missing)) is not missing else context.resolve_or_missing(n)
                     for n in names)
        kept = self.__dict__.setdefault("_included", {}).setdefault(template.name, [])
        for before, text in kept:
            if all(map(_same, before, read)):
                return text
        text = concat(template.root_render_func(template.new_context(context.get_all(), True, local)))
        kept.insert(0, (read, text))
        del kept[KEPT:]
        return text

    def macro_text(self, macro: _TexMacro, args: tuple) -> Tex:
        """A macro's text (a plain call) for arguments whose attributes that it reads
        (``macro_reads``) are those of one of its last few calls: that call's text. A
        macro whose reads differ every time (a variant's numbers) is soon no longer
        compared: after ``TRIES`` calls without a text used again."""
        memo = self.__dict__.setdefault("_macro_texts", {}).get(macro._func.__code__)
        if memo is None:
            memo = self._macro_texts[macro._func.__code__] = [0, 0]  # calls, texts used again; then the texts
        if memo[0] >= TRIES and not memo[1]:
            self.__dict__.setdefault("_macros_run", set()).add(macro._func.__code__)
            macro._reads = None
            return self._macro_run(macro, args)
        memo[0] += 1
        read = tuple([_read(args[i], attr) for i, attr in macro._reads])
        for before, text in memo[2:]:
            if all(map(_same, before, read)):
                memo[1] += 1
                return text
        text = self._macro_run(macro, args)
        if type(text) is Tex:
            memo.insert(2, (read, text))
            del memo[2 + KEPT:]
        return text

    def _macro_run(self, macro: _TexMacro, args: tuple) -> Any:
        try:
            return Tex(macro._func(*args))
        except StopIteration:
            return self.undefined("value was undefined because a callable raised a StopIteration exception")

    def _reads(self, name: str) -> tuple[str, ...] | None:
        """The names a template reads from its context, its includes' and imports' too;
        None where a template name is computed (or a template includes itself)."""
        known = self.__dict__.setdefault("_read_names", {})
        if name not in known:
            known[name] = None  # while it is worked out: a template that includes itself
            try:
                source, filename, _ = self.loader.get_source(self, name)
                ast = self.parse(source, name, filename)
            except (jinja2.TemplateNotFound, jinja2.TemplateSyntaxError):  # fails when (if) it is rendered
                return None
            names = set(jinja2.meta.find_undeclared_variables(ast))
            for other in jinja2.meta.find_referenced_templates(ast):
                more = self._reads(other) if other is not None else None
                if more is None:
                    return None
                names.update(more)
            known[name] = tuple(sorted(names))
        return known[name]


KEPT = 4  # texts kept per included template: a sheet and a key each include a template with other data
TRIES = 16  # calls of a macro without a text used again, after which its texts are no longer compared
_PLAIN = frozenset({str, Tex, int, bool, type(None)})  # compared by value (floats are not: 0.0 == -0.0)


def _same(a: Any, b: Any) -> bool:
    """Whether a template reading ``b`` prints what it printed reading ``a``: the same
    object, or equal plain values of the same types (a template's own small dicts of flags
    are made anew for each document)."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind in _PLAIN:
        return a == b
    if kind is dict:
        return (a.keys() == b.keys()
                and all(type(v) in _PLAIN and type(v) is type(b[k]) and v == b[k] for k, v in a.items()))
    return False


class _TexTemplate(jinja2.Template):
    @jinja2.utils.internalcode
    def _get_default_module(self, ctx=None):
        """Jinja's, with its test of whether the importing context holds globals of its own
        (which take a module of their own) made on the environment's globals first: Jinja
        compares them with a ChainMap's keys in Python, a few microseconds for each import."""
        if ctx is not None and not self.environment.is_async and ctx.globals_keys <= self.environment.globals.keys():
            ctx = None  # every key is one of the environment's globals, which the template holds
        return super()._get_default_module(ctx)


_Tex.template_class = _TexTemplate


class TexEnvironment(_Tex, jinja2.Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        """Jinja's ``getattr`` (``a.b``: the attribute, else the item), without an
        AttributeError raised for each ``a.b`` on a dict, most of the templates' data."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        try:
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


_DICT_ATTRIBUTES = frozenset(dir(dict))


class SandboxedTexEnvironment(_Tex, jinja2.sandbox.SandboxedEnvironment):
    pass


def builtin_templates() -> Path:
    return Path(str(resources.files("derive.templates")))


def cache_dir(sandboxed: bool = False) -> Path:
    """Where compiled templates are kept between runs: $XDG_CACHE_HOME/derive or ~/.cache/derive.
    The sandbox's are kept apart: the open environment's code reads attributes unchecked."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    kind = "-sandboxed" if sandboxed else ""
    return Path(base) / "derive" / f"templates-jinja{jinja2.__version__}-tex6{kind}"  # tex6: our code generator and filters


def _bytecode_cache(sandboxed: bool) -> jinja2.BytecodeCache | None:
    """Jinja's bytecode cache in the user's cache folder, or none where it cannot be made
    (a read-only home, no home): compiling the templates again is only slower."""
    folder = cache_dir(sandboxed)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return None
    except OSError:
        return None
    return _TolerantCache(str(folder))


class _TolerantCache(jinja2.FileSystemBytecodeCache):
    """A cache that never fails a run: a file that cannot be read or written is skipped."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def environment(template_dir: Path | None = None, *, sandboxed: bool = False) -> jinja2.Environment:
    """The Jinja environment for the built-in templates, with ``template_dir``'s files in
    front of them. ``sandboxed``: for templates that are not the instructor's own (a web
    server): no access to Python internals (``os.popen`` through globals and the like)."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise DeriveError(f"{template_dir}: --templates: expected a folder of *.tex.j2 templates")
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates())))
    cls = SandboxedTexEnvironment if sandboxed else TexEnvironment
    env = cls(
        loader=jinja2.ChoiceLoader(loaders),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_statement_prefix="%%",
        line_comment_prefix="%#",
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Jinja's escaping is HTML's; TeX's is finalize's
        undefined=jinja2.StrictUndefined,
        finalize=finalize,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(sandboxed),
        # A run reads each template once: checking its file's date before every document
        # (a dozen templates per variant) costs more than the rendering of some of them.
        auto_reload=False,
    )
    for name, f in list(env.filters.items()):
        if getattr(f, "jinja_async_variant", False):  # the function itself, without the test for async
            env.filters[name] = f.__wrapped__
    env.filters["e"] = env.filters["escape"] = escape_tex
    env.filters["join"] = _join
    return env


def render(env: jinja2.Environment, name: str, context: dict) -> str:
    if "kind" in context:  # hook: another exercise kind has its own templates (graph_sheet.tex.j2, …)
        name = f"{context['kind']}_{name}"
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise DeriveError(f"template {exc.name}: not found in the template folder or the built-in templates") from None
    except jinja2.sandbox.SecurityError as exc:
        raise DeriveError(f"template {name}: refused by the sandbox ({exc})") from None
    except (jinja2.TemplateSyntaxError, jinja2.UndefinedError) as exc:
        where = getattr(exc, "filename", None) or name
        line = f":{exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise DeriveError(f"{where}{line}: template error: {exc.message}") from None


def contexts(solution) -> tuple[dict, dict]:
    """The data of the sheet and of the key. The two differ only in their heading, so one
    context serves both (a large network's tables are laid out once)."""
    sheet = context(solution, "Exercise sheet")
    return sheet, dict(sheet, document="Answer key")


def context(solution, document: str) -> dict:
    """Everything the sheet and key templates receive for one Solution (see README).
    Per-structure parts (figure, theory plots, printed formulas) are the Exercise's,
    shared by every variant; nothing is copied."""
    if solution.network is None:  # hook: a computational graph's template data (derive/graph_key.py)
        from .graph_key import context as graph_context
        return graph_context(solution, document)
    net = solution.network
    der = solution.derivation
    spec = solution.spec
    g = solution.givens

    def given(name: str, **extra) -> dict:
        return {"name": name, "tex": latex_name(name), "value": given_text(g[name]), **extra}

    many = der.n_examples > 1
    examples = [
        {"inputs": [given(f"{x}[{e}]" if many else x) for x in net.inputs],
         "targets": [given(f"{y}[{e}]" if many else y) for y in net.targets]}
        for e in range(1, der.n_examples + 1)
    ]
    policy = solution.policy
    before, after = solution.loss_before, solution.loss_after
    return {
        "exercise": {"title": spec.title, "course": spec.course, "variant": solution.variant,
                     "seed": solution.seed},
        "document": document,
        "figure": solution.exercise.figure,
        "given": {
            "examples": examples,
            "bias_units": [given(l.bias_unit) for l in net.layers if l.bias_unit],
            "weight_rows": _rows([given(p.name, connection=p.connection, bias=p.is_bias) for p in der.params]),
            "eta": given_text(g["eta"]),
        },
        "conventions": solution.exercise.shared(_conventions),
        "steps": solution.sections,  # lines are read by attribute; their `kind` says which
        "summary": {
            "before": policy.tex(before),
            "after": policy.tex(after),
            "decreased": solution.loss_decreased,
            "change": f"{abs(after - before) / before * 100:.1f}" if before else "0",
        },
        "questions": questions.context(spec, len(solution.runs)),
        "theory": theory.context(solution),
        "training": training_tex.context(solution),
        "optimizer": optimizer_key.context(solution),  # None without an optimizer
        "tables": key_tables.context(solution),  # None: the calculation written line by line
        "online": solution.by_example() if der.online else None,  # per example: stage -> lines
        "start": solution.start,  # online: the loss at the starting parameters
    }


def _conventions(exercise) -> dict:
    """The conventions the sheet and key state: the same for every variant of an exercise,
    so made once (``Exercise.shared``)."""
    net, der, spec = exercise.network, exercise.derivation, exercise.spec
    many = der.n_examples > 1
    policy = exercise.policy
    params = {p.name: i for i, p in enumerate(der.params)}

    def symbolic(name: str) -> Tex:
        return exercise.forms[der.index[name]].symbolic

    layers = []
    for i, layer in enumerate(net.layers):
        act = ACTIVATIONS[layer.activation]
        symbol = symbol_tex(layer.symbol or act.symbol)
        layers.append({
            "index": layer.index,
            "output": i == len(net.layers) - 1,
            "units": _units(layer.units),
            "activation": layer.activation,
            "title": act.title,
            "symbol": symbol,
            "definition": Tex(act.definition_tex.replace(r"\alpha", given_text(layer.slope))),
            "derivative": Tex(act.derivative_tex.replace(r"\sigma", symbol).replace(r"\alpha", given_text(layer.slope))),
            "cases": r"\begin{cases}" in act.definition_tex,
            "bias_unit": latex_name(layer.bias_unit) if layer.bias_unit else None,
            "bias_value": given_text(layer.bias_value),
        })
        if layer.activation == "softmax":  # written in the layer's own unit names
            layers[-1].update(theory.softmax_tex(layer.units))
    return {
        "layers": layers,
        "loss": {
            "kind": spec.loss.kind,
            "title": LOSSES[spec.loss.kind].title,
            "half": spec.loss.half,
            "outputs": spec.loss.outputs,
            "examples": spec.loss.examples,
            "formula": _any_example(symbolic("L[1]" if many else "L")),
            "total": symbolic("L") if many else None,
            "n_outputs": len(net.outputs),
            "n_examples": der.n_examples,
            "cancels": der.cancels,
            "cancel": [{"lhs": _any_example(latex_name(q.name)), "rhs": _any_example(symbolic(q.name))}
                       for q in der.quantities
                       if q.note == "cancel" and q.example in (None, 1)],
        },
        "bias": net.bias,
        "trained_bias": spec.train_bias,
        "frozen": [latex_name(n) for n in sorted(net.frozen, key=params.__getitem__)],
        "update_mode": spec.update,
        "decimals": policy.decimals,
        "carry": spec.carry,
        "chains_only": not der.uses_delta,
    }


def _any_example(formula: Tex) -> Tex:
    """A formula of example 1 written for any example n: L⁽ⁿ⁾ = −y₁⁽ⁿ⁾ log o₁⁽ⁿ⁾ − …"""
    return Tex(formula.replace("^{(1)}", "^{(n)}"))


# In pt: the room of a row of given values beside its "parameter" column (A4 at 2.2 cm
# margins, 11 pt type), and what a column takes: a printed character of its widest name or
# value (printed_width's count; a digit is 5.5 pt wide) and the space between columns.
ROW_ROOM, CHARACTER, COLUMN_SPACE = 420.0, 5.5, 12.0


def _rows(items: list, width: int = 10) -> list[list]:
    """Rows of at most ``width``, as even as possible (15 items: 8 and 7, not 10 and 5),
    and only as many to a row as fit on the line. The rows are one table: a column is as
    wide as the widest name or value of any row in it."""
    if not items:
        return []
    # a value without a command (a plain number, the most) is as wide as its characters
    room = [COLUMN_SPACE + CHARACTER * max(_name_width(i["tex"]),
                                           len(i["value"]) if "\\" not in i["value"] else printed_width(i["value"]))
            for i in items]
    n_rows = -(-len(items) // width)
    while True:
        size = -(-len(items) // n_rows)
        columns = room if n_rows == 1 else [max(room[j::size]) for j in range(size)]
        if size == 1 or sum(columns) <= ROW_ROOM:
            return [items[i:i + size] for i in range(0, len(items), size)]
        n_rows = -(-len(items) // (size - 1))


@functools.cache  # a name is met again in every variant
def _name_width(tex: str) -> int:
    return printed_width(tex)


def _units(units: tuple[str, ...], shown: int = 6) -> list[str]:
    """A layer's unit names as a list reads on one line: a long layer as its first two
    units, a dots and its last one."""
    names = [latex_name(u) for u in units]
    return names if len(names) <= shown else [*names[:2], Tex(r"\dots"), names[-1]]
