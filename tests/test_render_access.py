"""``a.b`` and printing in the open environment, whose code reads attributes inline, against
the sandboxed one, which goes through Jinja's own ``getattr`` for every access."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import jinja2
import pytest

from derive import render
from derive.latex import Tex

Pair = namedtuple("Pair", "left right")


@dataclass(frozen=True)
class Line:
    kind: str
    value: float


class Items:
    """Items but no attributes: ``a.b`` falls back to ``a['b']``."""

    def __getitem__(self, key):
        return f"item {key}"


DATA = {
    "d": {"kind": "chain", "items": "shadowed", "n": 3, "t": Tex(r"\alpha"), "none": None},
    "line": Line("plain", 0.25),
    "pair": Pair(1, -0.0),
    "items": Items(),
    "nested": {"line": Line("chain", 1e-7), "rows": [{"x": True}]},
    "loop_over": [Line("a", 1.0), Line("b", 2.5)],
}

TEMPLATES = [
    r"\VAR{d.kind} \VAR{d.n + 1} \VAR{d.t} \VAR{d.none}",
    r"\VAR{d.items()|list|length}",  # a dict's own method, not its item
    r"\VAR{line.kind}/\VAR{line.value}/\VAR{pair.left}/\VAR{pair.right}",
    r"\VAR{items.anything}",
    r"\VAR{nested.line.kind} \VAR{nested.line.value} \VAR{nested.rows[0].x}",
    r"\BLOCK{for l in loop_over}\VAR{loop.index}:\VAR{l.kind}\BLOCK{if not loop.last},\BLOCK{endif}\BLOCK{endfor}",
    r"\BLOCK{for l in loop_over if l.value > 1}\VAR{l.kind}\VAR{loop.previtem is defined}\BLOCK{endfor}",
    r"\VAR{[line.kind, d.t]|join(', ')} \VAR{'%s' % d.kind}",
    # macros: called plainly, with defaults, keywords, a caller, extra arguments, in a loop
    r"\BLOCK{macro m(a, b='{b}')}[\VAR{a}|\VAR{b}]\BLOCK{endmacro}\VAR{m(d.t)}\VAR{m('&', d.t)}\VAR{m(b=1, a=2)}",
    r"\BLOCK{macro box()}<\VAR{caller()}>\BLOCK{endmacro}\BLOCK{call box()}\VAR{d.kind}&\BLOCK{endcall}",
    r"\BLOCK{macro many()}\VAR{varargs|join('+')}\VAR{kwargs|length}\BLOCK{endmacro}\VAR{many(1, d.t, x=2)}",
    r"\BLOCK{macro m(l)}\VAR{l.kind}_\BLOCK{endmacro}\BLOCK{for l in loop_over}\VAR{m(l)}\VAR{loop.index}\BLOCK{endfor}",
]


@pytest.mark.parametrize("source", TEMPLATES)
def test_the_open_environment_reads_and_prints_as_jinja_does(source):
    open_text = render.environment().from_string(source).render(**DATA)
    boxed_text = render.environment(sandboxed=True).from_string(source).render(**DATA)
    assert open_text == boxed_text


def test_a_macro_called_with_too_many_arguments_is_an_error():
    for sandboxed in (False, True):
        with pytest.raises(TypeError):
            render.environment(sandboxed=sandboxed).from_string(
                r"\BLOCK{macro m(a)}\VAR{a}\BLOCK{endmacro}\VAR{m(1, 2)}").render()


@pytest.mark.parametrize("source", [r"\VAR{d.missing}", r"\VAR{line.missing}", r"\VAR{nested.line.missing.deeper}"])
def test_a_missing_attribute_is_an_error(source):
    for sandboxed in (False, True):
        with pytest.raises(jinja2.UndefinedError):
            render.environment(sandboxed=sandboxed).from_string(source).render(**DATA)


def test_printed_values_are_text_as_python_writes_numbers():
    template = render.environment().from_string(r"\VAR{a}|\VAR{b}|\VAR{c}|\VAR{d}|\VAR{e}|\VAR{f}")
    assert template.render(a=1, b=0.1, c=True, d=None, e=-0.0, f=10**20) == "1|0.1|True|None|-0.0|100000000000000000000"
