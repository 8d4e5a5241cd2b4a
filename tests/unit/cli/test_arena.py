import json

import pytest

from rpsquest.cli.arena import main


def test_the_arena_prints_its_table_and_writes_the_result(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RPS_PROJECT_DIR", str(tmp_path))  # no models there
    result = tmp_path / "arena.json"
    argv = ["--sessions", "2", "--bots", "ev-uniform", "logan", "--types", "constant", "random"]

    main([*argv, "--jobs", "1", "--json", str(result)])

    printed = capsys.readouterr().out
    written = json.loads(result.read_text())
    assert "headline" in printed
    assert "logan after the gambit: fallback to dan 100.0%" in printed
    assert written["bots"] == ["ev-uniform", "logan"]
    assert written["types"] == ["constant", "random"]
    assert [cell["games_1_10"]["games"] for cell in written["cells"]] == [20] * 4
    assert set(written["headline"]) == {"ev-uniform", "logan"}


@pytest.mark.parametrize(
    "argv",
    [
        ["--sessions", "0"],
        ["--jobs", "0"],
        ["--types", "lizard"],
        ["--bots", "ev-uniform", "--start-url", "http://127.0.0.1:9/"],  # baselines are local
    ],
)
def test_the_arena_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert "rps-arena" in capsys.readouterr().err
