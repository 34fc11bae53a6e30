import pytest

from srl_agent.actions import (
    ActionParseError,
    Bash,
    Edit,
    Submit,
    ToolCall,
    action_from_call,
    action_type,
    parse_action,
    parse_function_calls,
    render_action,
)

ACTIONS = [
    Bash("ls -la /testbed"),
    Bash("cat <<'EOF' > x.py\nprint(1)\nEOF"),
    Bash(""),
    Edit("view", "/testbed/a.py", view_range=(1, -1)),
    Edit("create", "/testbed/new.py", file_text="\nimport os\n"),
    Edit("str_replace", "/testbed/a.py", old_str="  return x\n", new_str="  return y\n\n"),
    Edit("insert", "/testbed/a.py", insert_line=3, new_str="\n"),
    Edit("undo_edit", "/testbed/a.py"),
    Submit(),
    ToolCall("edit", (("start", "10"), ("end", "12"), ("replacement", "a\nb"))),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: action_type(a))
def test_canonical_round_trip(action):
    assert parse_action(render_action(action)) == action


def test_canonical_text_is_the_in_text_function_form():
    assert render_action(Bash("ls")) == "<function=bash>\n<parameter=command>ls</parameter>\n</function>"
    assert render_action(Edit("str_replace", "/t/a.py", old_str="a\nb", new_str="c")) == (
        "<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=path>/t/a.py</parameter>\n"
        "<parameter=old_str>\na\nb\n</parameter>\n<parameter=new_str>c</parameter>\n</function>"
    )
    assert render_action(Submit()) == "<function=submit>\n</function>"


def test_aliases_normalise_to_core_tools():
    assert parse_action("<function=execute_bash><parameter=command>\npwd\n</parameter></function>") == Bash("pwd")
    assert parse_action("<function=finish>\n</function>") == Submit()
    assert action_from_call("str_replace_editor", {"command": "view", "path": "/a", "view_range": [3, 9]}) == Edit(
        "view", "/a", view_range=(3, 9)
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no <function"),
        ("ls -la", "no <function"),
        (
            "<function=bash><parameter=command>ls</parameter></function>\n<function=bash><parameter=command>pwd</parameter></function>",
            "exactly one",
        ),
        ("I will list. <function=bash><parameter=command>ls</parameter></function>", "outside"),
        ("<function=bash><parameter=command>ls</parameter>", "no <function"),
        ("<function=bash>stray<parameter=command>ls</parameter></function>", "unexpected text"),
        ("<function=bash></function>", "needs a 'command'"),
        (
            "<function=str_replace_editor><parameter=command>delete</parameter><parameter=path>/a</parameter></function>",
            "must be one of",
        ),
        ("<function=str_replace_editor><parameter=command>view</parameter></function>", "needs a 'path'"),
        (
            "<function=str_replace_editor><parameter=command>view</parameter><parameter=path>/a</parameter><parameter=view_range>1-3</parameter></function>",
            "view_range",
        ),
        ("<function=bash><parameter=command>ls</parameter><parameter=command>pwd</parameter></function>", "repeated"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ActionParseError, match=message):
        parse_action(text)


def test_lenient_extraction_from_free_text():
    text = "Let me look.\n<function=bash>\n<parameter=command>\nls\n</parameter>\n</function>\ntrailing"
    assert parse_function_calls(text) == [("bash", [("command", "ls")])]
