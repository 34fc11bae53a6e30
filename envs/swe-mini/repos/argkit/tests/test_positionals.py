import pytest

from argkit import Namespace, ParseError, Parser, SpecError


def test_single_positional():
    p = Parser("cp")
    p.add_positional("src")
    p.add_positional("dst")
    assert p.parse(["a", "b"], env={}) == Namespace(src="a", dst="b")


def test_missing_positional():
    p = Parser("cp")
    p.add_positional("src")
    with pytest.raises(ParseError, match="missing argument src"):
        p.parse([], env={})


def test_extra_positional():
    p = Parser("cat")
    p.add_positional("file")
    with pytest.raises(ParseError, match="unexpected argument 'b'"):
        p.parse(["a", "b"], env={})


def test_optional_positional():
    p = Parser("ls")
    p.add_positional("path", nargs="?", default=".")
    assert p.parse([], env={}).path == "."
    assert p.parse(["src"], env={}).path == "src"


def test_rest_positional():
    p = Parser("rm")
    p.add_flag("--force", "-f")
    p.add_positional("paths", nargs="+")
    args = p.parse(["a", "-f", "b"], env={})
    assert args.paths == ["a", "b"] and args.force


def test_positional_type():
    p = Parser("sleep")
    p.add_positional("seconds", type=float)
    assert p.parse(["1.5"], env={}).seconds == 1.5


def test_dash_is_a_value():
    p = Parser("cat")
    p.add_positional("file")
    assert p.parse(["-"], env={}).file == "-"


def test_double_dash_ends_options():
    p = Parser("grep")
    p.add_flag("--ignore-case", "-i")
    p.add_positional("pattern")
    p.add_positional("files", nargs="*")
    args = p.parse(["-i", "--", "-v", "--help"], env={})
    assert args.ignore_case
    assert args.pattern == "-v"
    assert args.files == ["--help"]


def test_double_dash_after_positionals():
    p = Parser("run")
    p.add_positional("argv", nargs="*")
    assert p.parse(["echo", "--", "-n"], env={}).argv == ["echo", "-n"]


def test_nothing_after_rest_positional():
    p = Parser("rm")
    p.add_positional("paths", nargs="*")
    with pytest.raises(SpecError):
        p.add_positional("other")


def test_namespace_repr():
    assert repr(Namespace(b=1, a="x")) == "Namespace(a='x', b=1)"
