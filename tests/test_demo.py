"""The command line ``python -m ntk_rs demo``: its arguments."""

import pytest

from ntk_rs.__main__ import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--threads", "0"], "argument --threads: must be >= 1, got 0"),
        (["--threads", "two"], "argument --threads: must be an integer, got 'two'"),
        (["--ridge", "-1"], "argument --ridge: must be finite and >= 0, got -1"),
        (["--ridge", "nan"], "argument --ridge: must be finite and >= 0, got nan"),
        (["--train", "0"], "--train must be between 1 and 1796"),
    ],
)
def test_bad_arguments_are_usage_errors(args, message, capsys):
    """A usage message naming the argument, before any kernel is computed (--threads 0 and
    --ridge -1 were tracebacks, the ridge's after the kernels, naming its scaled value)."""
    with pytest.raises(SystemExit) as exit:
        main(["demo", "--train", "5", *args])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err
