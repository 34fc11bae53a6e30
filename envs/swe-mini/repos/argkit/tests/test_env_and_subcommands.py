import pytest

from argkit import ParseError, Parser


def make_parser():
    p = Parser("deploy")
    p.add_option("--retries", type=int, default=3, env="DEPLOY_RETRIES")
    p.add_option("--region", choices=["eu", "us"], default="eu", env="DEPLOY_REGION")
    p.add_flag("--quiet", env="DEPLOY_QUIET")
    p.add_flag("--verbose", "-v", count=True, env="DEPLOY_VERBOSITY")
    return p


def test_env_provides_default():
    assert make_parser().parse([], env={"DEPLOY_REGION": "us"}).region == "us"


def test_env_value_is_converted():
    assert make_parser().parse([], env={"DEPLOY_RETRIES": "5"}).retries == 5


def test_env_value_is_validated():
    with pytest.raises(ParseError, match="environment variable DEPLOY_REGION: invalid choice"):
        make_parser().parse([], env={"DEPLOY_REGION": "mars"})


def test_env_bad_number_names_the_variable():
    with pytest.raises(ParseError, match="environment variable DEPLOY_RETRIES: invalid int value"):
        make_parser().parse([], env={"DEPLOY_RETRIES": "lots"})


def test_command_line_beats_env():
    assert make_parser().parse(["--retries", "1"], env={"DEPLOY_RETRIES": "5"}).retries == 1


def test_env_flag_words():
    assert make_parser().parse([], env={"DEPLOY_QUIET": "yes"}).quiet is True
    assert make_parser().parse([], env={"DEPLOY_QUIET": "off"}).quiet is False


def test_env_count_flag():
    assert make_parser().parse([], env={"DEPLOY_VERBOSITY": "2"}).verbose == 2


def test_subcommands():
    p = Parser("git")
    p.add_flag("--verbose", "-v")
    commit = p.add_subcommand("commit")
    commit.add_option("--message", "-m", required=True)
    p.add_subcommand("status")
    args = p.parse(["-v", "commit", "-m", "fix"], env={})
    assert (args.command, args.verbose, args.message) == ("commit", True, "fix")


def test_unknown_subcommand():
    p = Parser("git")
    p.add_subcommand("status")
    with pytest.raises(ParseError, match="unknown command 'push'"):
        p.parse(["push"], env={})


def test_missing_subcommand():
    p = Parser("git")
    p.add_subcommand("status")
    with pytest.raises(ParseError, match="missing command"):
        p.parse([], env={})


def test_usage_line():
    p = make_parser()
    p.add_positional("build")
    assert p.format_usage() == (
        "usage: deploy [--retries RETRIES] [--region REGION] [--quiet] [--verbose] build"
    )


def test_help_text():
    p = Parser("deploy", description="Deploy a build.")
    p.add_option("--region", "-r", choices=["eu", "us"], default="eu", help="where to deploy")
    p.add_positional("build", help="build id")
    assert p.format_help() == (
        "usage: deploy [--region REGION] build\n"
        "\n"
        "Deploy a build.\n"
        "\n"
        "arguments:\n"
        "  build  build id\n"
        "\n"
        "options:\n"
        "  --region, -r REGION  where to deploy; choices: eu, us; default: eu"
    )


def test_error_format_includes_usage():
    p = Parser("tool")
    try:
        p.parse(["--nope"], env={})
    except ParseError as e:
        assert e.format() == "usage: tool\nerror: unknown option --nope"
    else:
        pytest.fail("no error")
