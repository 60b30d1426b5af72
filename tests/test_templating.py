"""Which macros are remembered: only those whose output depends on their arguments alone."""

import jinja2
import pytest

from bhrdigest.digest.templating import RenderingEnvironment, pure_macro_names


def pure(source):
    return pure_macro_names(jinja2.Environment().parse(source))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% macro row(item) %}<b>{{ item.title }}</b>{% endmacro %}", {"row"}),
        ("{% macro row(item) %}{{ digest.name }}: {{ item.title }}{% endmacro %}", set()),
        ("{% macro row(item) %}{% for r in item.reasons %}{{ loop.index }} {{ r }}{% endfor %}{% endmacro %}", {"row"}),
        ("{% macro row(item) %}{% set why %}{{ item.why }}{% endset %}{{ why | upper }}{% endmacro %}", {"row"}),
        ("{% macro row(item) %}{{ caller() }}{% endmacro %}", set()),
        ("{% macro row(item) %}{{ varargs }}{% endmacro %}", set()),
        ("{% macro row(item, who=digest.name) %}{{ who }}{% endmacro %}", set()),
        ("{% macro row(item) %}{% for i in range(3) %}{{ i }}{% endfor %}{% endmacro %}", set()),
        # one macro calling another: pure only when the callee is
        ("{% macro a(x) %}{{ x }}{% endmacro %}{% macro b(x) %}{{ a(x) }}{% endmacro %}", {"a", "b"}),
        ("{% macro a(x) %}{{ digest }}{% endmacro %}{% macro b(x) %}{{ a(x) }}{% endmacro %}", set()),
        ("{% macro a(x) %}{{ loop.index }}{% endmacro %}", set()),  # an outer loop's variable
    ],
)
def test_a_macro_is_pure_only_when_it_reads_nothing_but_its_arguments(source, expected):
    assert pure(source) == expected


def test_a_pure_macro_is_rendered_once_per_distinct_argument():
    calls = []
    env = RenderingEnvironment()
    env.globals["count"] = lambda: calls.append(1) or ""
    source = "{% macro row(x) %}[{{ x }}]{% endmacro %}{% for x in xs %}{{ row(x) }}{% endfor %}"
    env.learn_pure_macros(source, None)
    template = env.from_string(source)
    assert template.render(xs=["a", "b", "a"]) == "[a][b][a]"
    assert template.render(xs=["b", "c"]) == "[b][c]"
    assert {key[-1] for key in env.remembered} == {("a",), ("b",), ("c",)}


def test_an_impure_macro_sees_each_render_of_the_context():
    env = RenderingEnvironment()
    source = "{% macro row(x) %}{{ who }}:{{ x }}{% endmacro %}{% for x in xs %}{{ row(x) }} {% endfor %}"
    env.learn_pure_macros(source, None)
    template = env.from_string(source)
    assert template.render(who="alex", xs=["a"]) == "alex:a "
    assert template.render(who="kim", xs=["a"]) == "kim:a "


def test_an_unhashable_argument_is_rendered_each_time():
    env = RenderingEnvironment()
    source = "{% macro row(x) %}{{ x | join(',') }}{% endmacro %}{{ row(xs) }}"
    env.learn_pure_macros(source, None)
    template = env.from_string(source)
    assert template.render(xs=["a", "b"]) == "a,b"
    assert template.render(xs=["c"]) == "c"
    assert env.remembered == {}
