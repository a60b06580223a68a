"""The command line's shape: common options after any command, a command's own usage for an
option it does not know, `--version`, and `eval`/`export` of a run by name or folder."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest
from conftest import make_tiny_dataset, write_dataset

from mlp_core import TrainConfig, train
from tui.cli import build_parser, main

#: Every command, with the positional arguments it needs.
COMMANDS = {
    "train": [],
    "runs": [],
    "eval": ["some.safetensors"],
    "export": ["some-run"],
    "sweep": [],
    "search": [],
    "stop": ["some-run"],
    "attach": ["some-run"],
    "gradcheck": [],
}


def test_the_list_is_every_command() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    assert sorted(commands.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_common_options_may_follow_every_command(command: str) -> None:
    args = build_parser().parse_args(
        [command, *COMMANDS[command], "--runs-dir", "D", "--data-dir", "E", "--device", "cpu"]
    )
    assert (args.runs_dir, args.data_dir, args.device) == (Path("D"), Path("E"), "cpu")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_common_options_before_a_command_are_not_overwritten(command: str) -> None:
    args = build_parser().parse_args(["--runs-dir", "D", "--device", "cpu", command,
                                      *COMMANDS[command]])  # fmt: skip
    assert (args.runs_dir, args.device) == (Path("D"), "cpu")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_option_prints_the_commands_usage(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([command, *COMMANDS[command], "--bogus"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: mnist-tui {command} ")
    assert err.rstrip().endswith("error: unrecognized arguments: --bogus")


def test_an_unknown_option_before_the_command_is_the_main_parsers(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--bogus", "runs"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith("usage: mnist-tui [-h] [--version]")


def test_version_comes_from_the_package_metadata(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"mnist-tui {version('mnist-tui')}\n"


# -- eval and export of a run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data dir, a finished 2-epoch run folder in its runs folder)."""
    base = tmp_path_factory.mktemp("cli-options")
    data_dir = write_dataset(base / "tiny-data", make_tiny_dataset())
    from data.mnist import load_dataset

    config = TrainConfig(hidden=16, epochs=2, batch_size=64, val_split=100, device="cpu")
    events = list(train(config, load_dataset(data_dir), runs_dir=base / "runs"))
    return data_dir, Path(events[0].run_dir)


def _eval_json(capsys, *args: str) -> dict[str, object]:
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_of_a_run_by_name_is_its_best_checkpoint(run, capsys) -> None:
    data_dir, run_dir = run
    best = run_dir / "checkpoints" / "best.safetensors"
    direct = _eval_json(capsys, str(best), "--data-dir", str(data_dir))
    by_name = _eval_json(
        capsys, run_dir.name, "--runs-dir", str(run_dir.parent), "--data-dir", str(data_dir)
    )
    assert by_name["checkpoint"] == str(best) and by_name["chosen"] == "best"
    assert by_name["accuracy"] == direct["accuracy"] and "chosen" not in direct
    assert main(["eval", str(run_dir), "--data-dir", str(data_dir)]) == 0  # by its folder
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"checkpoint {best} (the run's best checkpoint)"


def test_eval_of_a_run_without_a_best_is_its_last(run, tmp_path: Path, capsys) -> None:
    data_dir, run_dir = run
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    (copy / "checkpoints" / "best.safetensors").unlink()
    figures = _eval_json(capsys, str(copy), "--data-dir", str(data_dir))
    assert figures["checkpoint"] == str(copy / "checkpoints" / "last.safetensors")
    assert figures["chosen"] == "last"
    for checkpoint in (copy / "checkpoints").glob("*.safetensors"):
        checkpoint.unlink()
    assert main(["eval", str(copy), "--data-dir", str(data_dir)]) == 2
    assert "the run has no checkpoint yet" in capsys.readouterr().err


def test_eval_of_nothing_names_both_places(tmp_path: Path, capsys) -> None:
    assert main(["eval", "nothing", "--runs-dir", str(tmp_path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "mnist-tui: error: nothing: no such checkpoint, and no such run (neither a run folder "
        f"nor a run in {tmp_path})"
    )


def test_export_of_a_run_by_name_with_the_runs_dir_after(run, tmp_path: Path, capsys) -> None:
    _, run_dir = run
    out = tmp_path / "m.csv"
    assert main(["export", run_dir.name, "--runs-dir", str(run_dir.parent), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    header, *rows = out.read_text().splitlines()
    assert header.startswith("epoch,") and [row.split(",")[0] for row in rows] == ["1", "2"]
    assert main(["export", "nothing", "--runs-dir", str(tmp_path)]) == 2
    assert "nothing: no such run" in capsys.readouterr().err


# -- the README's table of commands -----------------------------------------------------------


def _readme_usage_lines() -> list[str]:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Command line\n", 1)[1]
    block = section.split("```\n", 2)[1]
    return [line for line in block.splitlines() if line.startswith("mnist-tui")]


def test_the_readme_lists_every_command_with_options_it_has() -> None:
    import re

    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    named = set()
    for line in _readme_usage_lines():
        words = line.split()
        command = words[1] if len(words) > 1 and words[1].isalpha() else None
        owner = commands.choices[command] if command else parser
        named.add(command)
        known = {option for action in owner._actions for option in action.option_strings}
        for option in re.findall(r"--[a-z][a-z-]*", line):
            assert option in known, f"README: {line!r}: {command or 'mnist-tui'} has no {option}"
    assert named - {None} == set(COMMANDS)


def test_export_to_stdout(run, capsys) -> None:
    _, run_dir = run
    assert main(["export", run_dir.name, "--runs-dir", str(run_dir.parent), "--out", "-"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("epoch,") and [row.split(",")[0] for row in rows] == ["1", "2"]
    assert not (run_dir / "metrics.csv").exists() and not Path("-").exists()
