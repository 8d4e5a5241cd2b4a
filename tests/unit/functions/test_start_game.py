"""start_game's GET /: the player's page and its assets, static and locked down."""

from __future__ import annotations

from importlib.resources import files

import pytest

from rpsquest.game.policies import POLICIES

PAGE = files("rpsquest") / "page"


@pytest.fixture
def start_game(client_for):
    return client_for(
        "start_game",
        RPS_ADMIN_TOKEN="secret-admin-token",
        RPS_PLAY_URL="https://play.rps.example/",
    )


def test_the_page_is_static_html_with_no_data_in_it(start_game):
    game = start_game.post("/", json={"policy": "ace", "player_name": "Zoë"}).get_json()

    response = start_game.get("/")

    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.data == (PAGE / "index.html").read_bytes()
    for data in ("secret-admin-token", game["game_id"], game["game_token"], "Zoë"):
        assert data not in response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text


def test_the_page_may_talk_only_to_its_own_origin_and_play(start_game):
    policy = start_game.get("/").headers["Content-Security-Policy"]

    assert "connect-src 'self' https://play.rps.example;" in policy
    assert "script-src 'self';" in policy
    assert "default-src 'none';" in policy


def test_the_page_offers_every_policy(start_game):
    html = start_game.get("/").text

    assert [p for p in POLICIES if f'<option value="{p}"' not in html] == []


@pytest.mark.parametrize(
    ("path", "name", "content_type"),
    [
        ("/style.css", "style.css", "text/css; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
    ],
)
def test_the_page_assets_are_served_with_their_types(start_game, path, name, content_type):
    response = start_game.get(path)

    assert response.status_code == 200
    assert response.content_type == content_type
    assert response.data == (PAGE / name).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "sink", ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]
)
def test_the_script_never_parses_strings_as_html(sink):
    script = (PAGE / "app.js").read_text()

    assert sink not in script
