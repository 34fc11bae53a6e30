import pytest

from argkit import ParseError, Parser, SpecError


@pytest.fixture
def parser():
    p = Parser("tool")
    p.add_option("--name", "-n", default="world")
    p.add_option("--count", "-c", type=int, default=1)
    p.add_flag("--verbose", "-v", count=True)
    p.add_flag("--dry-run", "-x")
    return p


def test_defaults(parser):
    args = parser.parse([], env={})
    assert (args.name, args.count, args.verbose, args.dry_run) == ("world", 1, 0, False)


def test_long_option_with_separate_value(parser):
    assert parser.parse(["--name", "ann"], env={}).name == "ann"


def test_long_option_with_inline_value(parser):
    assert parser.parse(["--name=ann"], env={}).name == "ann"


def test_inline_value_may_contain_equals(parser):
    assert parser.parse(["--name=key=value"], env={}).name == "key=value"


def test_inline_empty_value(parser):
    assert parser.parse(["--name="], env={}).name == ""


def test_short_option_attached_value(parser):
    assert parser.parse(["-c3"], env={}).count == 3


def test_short_option_separate_value(parser):
    assert parser.parse(["-c", "4"], env={}).count == 4


def test_type_conversion_error(parser):
    with pytest.raises(ParseError, match="invalid int value for --count: 'many'"):
        parser.parse(["--count", "many"], env={})


def test_negative_number_as_value(parser):
    assert parser.parse(["--count", "-5"], env={}).count == -5
    assert parser.parse(["-c", "-2"], env={}).count == -2


def test_negative_float_as_value():
    p = Parser("tool")
    p.add_option("--offset", type=float)
    assert p.parse(["--offset", "-0.5"], env={}).offset == -0.5


def test_missing_value(parser):
    with pytest.raises(ParseError, match="option --name expects a value"):
        parser.parse(["--name"], env={})


def test_option_value_cannot_be_another_option(parser):
    with pytest.raises(ParseError, match="expects a value"):
        parser.parse(["--name", "--verbose"], env={})


def test_count_flag(parser):
    assert parser.parse(["-v", "--verbose", "-v"], env={}).verbose == 3


def test_grouped_short_flags(parser):
    args = parser.parse(["-vvx"], env={})
    assert (args.verbose, args.dry_run) == (2, True)


def test_grouped_flags_then_value(parser):
    args = parser.parse(["-xc", "7"], env={})
    assert (args.dry_run, args.count) == (True, 7)


def test_flag_rejects_inline_value(parser):
    with pytest.raises(ParseError, match="flag --dry-run does not take a value"):
        parser.parse(["--dry-run=yes"], env={})


def test_unknown_option(parser):
    with pytest.raises(ParseError, match="unknown option --colour"):
        parser.parse(["--colour", "red"], env={})


def test_last_value_wins(parser):
    assert parser.parse(["-n", "a", "--name", "b"], env={}).name == "b"


def test_choices():
    p = Parser("tool")
    p.add_option("--level", choices=["low", "high"], default="low")
    assert p.parse(["--level", "high"], env={}).level == "high"
    with pytest.raises(ParseError, match="invalid choice for --level: 'max'"):
        p.parse(["--level", "max"], env={})


def test_required_option():
    p = Parser("tool")
    p.add_option("--token", required=True)
    with pytest.raises(ParseError, match="missing required option --token"):
        p.parse([], env={})


def test_nargs_star_collects_until_next_option():
    p = Parser("tool")
    p.add_option("--tags", nargs="*", default=[])
    p.add_flag("--all")
    args = p.parse(["--tags", "a", "b", "--all"], env={})
    assert args.tags == ["a", "b"] and args.all


def test_nargs_plus_needs_a_value():
    p = Parser("tool")
    p.add_option("--files", nargs="+")
    with pytest.raises(ParseError, match="at least one value"):
        p.parse(["--files"], env={})


def test_list_default_is_copied():
    p = Parser("tool")
    p.add_option("--tags", nargs="*", default=[])
    first = p.parse(["--tags", "a"], env={})
    second = p.parse([], env={})
    assert first.tags == ["a"] and second.tags == []


def test_duplicate_names_are_rejected(parser):
    with pytest.raises(SpecError, match="duplicate option name --name"):
        parser.add_option("--name")


def test_bad_option_names():
    p = Parser("tool")
    with pytest.raises(SpecError):
        p.add_option("name")
    with pytest.raises(SpecError):
        p.add_option("-ab")


def test_dest_from_long_name():
    p = Parser("tool")
    p.add_option("-o", "--output-dir")
    assert p.parse(["-o", "x"], env={}).output_dir == "x"
