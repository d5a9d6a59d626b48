"""One CLI policy: a user error is one line ``a2v: error: ...`` and exit 2, from every command."""
import argparse

import pytest

import main
from engine.cli.common import EXIT_USER_ERROR, run_command


def _err_lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_run_command_turns_user_errors_into_one_line_and_exit_2(capsys):
    def bad(args):
        raise ValueError("clip.mp4: not found;\n  pass an existing file")

    assert run_command(bad, argparse.Namespace()) == EXIT_USER_ERROR == 2
    assert _err_lines(capsys) == ["a2v: error: clip.mp4: not found; pass an existing file"]

    def interrupted(args):
        raise KeyboardInterrupt

    assert run_command(interrupted, argparse.Namespace()) == 130
    with pytest.raises(ValueError):  # -v shows the traceback instead
        run_command(bad, argparse.Namespace(), verbose=True)


@pytest.mark.parametrize("argv, needle", [
    (["weights", "fetch", "no_such_weights"], "unknown weights name 'no_such_weights'"),
    (["train", "--config", "absent.yaml"], "absent.yaml: cannot read config"),
    (["eval", "--config", "absent.yaml", "--checkpoint", "x.pt"], "absent.yaml: cannot read config"),
    (["track", "--dets", "absent.txt", "--out", "t.txt"], "absent.txt not found"),
    (["train-combine", "out.pt", "foot"], "expected MODULE=CHECKPOINT"),
    (["weights", "fetch"], "weights fetch: the following arguments are required: name"),
    (["bench", "tracker"], "bench tracker: the following arguments are required: --mot-dir"),
])
def test_every_command_follows_the_policy(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main.main(argv)
    except SystemExit as stop:  # argparse errors leave through SystemExit with the policy's code
        code = stop.code
    assert code == 2
    errors = [line for line in _err_lines(capsys) if line.startswith("a2v: error: ")]
    assert len(errors) == 1 and needle in errors[0], errors
