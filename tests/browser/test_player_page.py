"""The player's page in headless Chromium: a whole game played by clicks and keys on a phone
screen, checked against what play stored; a game resumed after reloads, the player's record and
the leaderboard; the debug view against the predictions play stored. axe-core checks every view."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import create_engine, insert, select

from rpsquest.game.rules import MOVES
from rpsquest.processes import free_port
from rpsquest.store.schema import games
from tests.browser.conftest import accessibility_violations
from tests.conftest import REPO
from tests.factories import finished_game_row
from tests.integration.conftest import stored
from tests.training_fixture import project_env, publish_copy

SCREENSHOTS = REPO / "test-output" / "browser"
ADMIN_TOKEN = "browser-admin-token"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
TOUCH_TARGET = 44  # CSS pixels
KEYS = {"rock": "r", "paper": "2", "scissors": "s"}
WINNERS = {"user": "You win", "bot": "The bot wins", "tie": "A tie"}
EN_DASH = "\N{EN DASH}"
# A request on a loaded CI machine may take seconds: the budget is for the page, not for speed.
WAIT_SECONDS = 30


def serve_page(launch, **env):
    """start_game (which serves the page) and play, CORS open to the page's origin only."""
    start_port, play_port = free_port(), free_port()
    env = {
        "RPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "RPS_PLAY_URL": f"http://127.0.0.1:{play_port}/",
        "RPS_CORS_ORIGINS": f"http://127.0.0.1:{start_port}",
        **env,
    }
    return launch("start_game", port=start_port, **env), launch("play", port=play_port, **env)


def game_id_of(project, player_name):
    engine = create_engine(f"sqlite:///{project / 'var' / 'rps.db'}")
    with engine.connect() as connection:
        found = connection.execute(select(games.c.id).where(games.c.player_name == player_name))
        game_id = found.scalar_one()
    engine.dispose()
    return game_id


def add_finished_games(project, session_id, player_name, policy, winners):
    """Finished human games of another player, written to the store as play would leave them."""
    engine = create_engine(f"sqlite:///{project / 'var' / 'rps.db'}")
    with engine.begin() as connection:
        for k, winner in enumerate(winners):
            row = finished_game_row(
                f"{session_id}-{k}", winner, session_id=session_id, player_name=player_name
            )
            values = {"policy": policy, "family": "legacy", "alias": None, "assignment_id": None}
            connection.execute(insert(games).values(row | values))
    engine.dispose()


def tenths(value):
    return f"{value:.1f}"


class PlayerPage:
    """What a player sees and does on the page."""

    def __init__(self, driver, url):
        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.05)
        driver.get(url)

    def until(self, condition, what):
        """Wait for `condition()`; on timeout, fail with what the page told the player and the
        console's errors, which say why the page did not get there."""
        try:
            return self.wait.until(lambda _: condition())
        except TimeoutException:
            shown = self.text("#error") if self.shows("#error") else "no error shown"
            pytest.fail(
                f"{what} did not happen in {WAIT_SECONDS} s; page: {shown}; "
                f"console: {self.errors()}"
            )

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text

    def shows(self, css):
        return self.find(css).is_displayed()

    def start(self, policy, player_name):
        Select(self.find("#policy")).select_by_value(policy)
        self.find("#player-name").send_keys(player_name)
        self.find("#start").click()
        self.until(lambda: self.shows("#game"), "the game after a start")

    def reload(self):
        """A page reload, and the tab's game back from play (the setup shows until then)."""
        self.driver.refresh()
        self.until(lambda: self.shows("#game"), "the game after a reload")

    def view(self, name, ready):
        self.find(f'[data-view="{name}"]').click()
        self.until(lambda: self.shows(ready), f"{ready} in the {name} view")

    def table(self, css):
        """A table's body rows as lists of cell texts."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' tbody tr')]"
            ".map((row) => [...row.cells].map((cell) => cell.textContent));",
            css,
        )

    def session_id(self):
        return self.driver.execute_script("return localStorage.getItem('rpsquest.sessionId')")

    def press(self, key):
        ActionChains(self.driver).send_keys(key).perform()

    def points(self):
        """The point values on the move buttons."""
        return tuple(self.text(f'[data-points="{move}"]') for move in MOVES)

    def rounds_shown(self):
        return len(self.driver.find_elements(By.CSS_SELECTOR, "#history tbody tr"))

    def history(self):
        """The rounds table, oldest first, as {cell class: text}; hidden cells included."""
        return self.driver.execute_script(
            """
            const rows = [...document.querySelectorAll("#history tbody tr")].reverse();
            return rows.map((row) => Object.fromEntries(
              [...row.cells].map((cell) => [cell.classList[0], cell.textContent])));
            """
        )

    def play_to_the_end(self):
        moves = 0
        while not self.shows("#game-over"):
            assert moves < 60, "the game never finished"
            self.play(MOVES[moves % 3])
            moves += 1

    def play(self, move, by_key=False):
        """Click the move's button (or press its key) and wait for the round in the history."""
        played = self.rounds_shown()
        if by_key:
            self.press(KEYS[move])
        else:
            self.find(f'.move[data-move="{move}"]').click()
        self.until(lambda: self.rounds_shown() == played + 1, f"round {played + 1} shown")

    def layout(self):
        """The viewport's width, how far the page overflows it, and the move buttons' boxes."""
        return self.driver.execute_script(
            """
            const buttons = [...document.querySelectorAll(".move")];
            return {
              width: window.innerWidth,
              overflow: document.documentElement.scrollWidth - window.innerWidth,
              moves: buttons.map((button) => button.getBoundingClientRect().toJSON()),
            };
            """
        )

    def debug(self, token):
        if not self.find("#debug").get_attribute("open"):
            self.find("#debug summary").click()
        self.find("#admin-token").clear()
        self.find("#admin-token").send_keys(token)
        self.find("#debug-form button[type=submit]").click()

    def debug_status(self, starting):
        self.until(lambda: self.text("#debug-status").startswith(starting), f"debug {starting!r}")
        return self.text("#debug-status")

    def predictions(self):
        """The debug table: alias -> version, probabilities, predicted move, acting or not."""
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#predictions tbody tr")
        return {
            row.get_attribute("data-alias"): {
                "version": int(row.find_element(By.CSS_SELECTOR, ".version").text),
                "probabilities": tuple(
                    float(
                        row.find_element(By.CSS_SELECTOR, f".{move}").get_attribute(
                            "data-probability"
                        )
                    )
                    for move in MOVES
                ),
                "predicted": row.find_element(By.CSS_SELECTOR, ".predicted").text,
                "acting": "acting" in row.get_attribute("class").split(),
            }
            for row in rows
        }

    def errors(self):
        """Console errors: script exceptions, refused CORS or CSP, failed loads."""
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, name):
        """The whole page at phone width, saved where the test report points."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**PHONE, "height": height}
        )
        path = SCREENSHOTS / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(path))
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        print(f"screenshot: {path}")


def test_a_whole_game_on_a_phone_shows_what_play_stored(browser, launch, tmp_path):
    start_game, _ = serve_page(launch)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    page = PlayerPage(browser, start_game.url)
    name = "<b>Zoë</b>"
    unreadable = {"setup": accessibility_violations(browser)}

    page.start("hal", name)
    unreadable["game"] = accessibility_violations(browser)
    layout = page.layout()
    shown_points, my_moves = [], []
    while not page.shows("#game-over"):
        assert len(my_moves) < 60, "the game never finished"
        assert page.text("#round-no") == str(len(my_moves) + 1)
        shown_points.append(page.points())
        move = MOVES[len(my_moves) % 3]
        page.play(move, by_key=len(my_moves) % 2 == 1)
        my_moves.append(move)

    unreadable["finished"] = accessibility_violations(browser)
    game, played, _ = stored(tmp_path, game_id_of(tmp_path, name))
    assert unreadable == {"setup": [], "game": [], "finished": []}
    assert not page.find("#difficulty").is_enabled()  # easy mode is for the learning bots
    assert page.text("#player-label") == name
    assert browser.find_elements(By.CSS_SELECTOR, "#player-label b") == []
    assert (layout["width"], layout["overflow"]) == (PHONE["width"], 0)
    assert len({box["top"] for box in layout["moves"]}) == 1  # three buttons side by side
    for box in layout["moves"]:
        assert min(box["width"], box["height"]) >= TOUCH_TARGET
        assert box["right"] <= PHONE["width"]
    assert [r["user_move"] for r in played] == my_moves
    assert page.rounds_shown() == len(played) == game["rounds_played"]
    for row, points, stored_round in zip(page.history(), shown_points, played, strict=True):
        values = [stored_round[f"{move}_pts"] for move in MOVES]
        scores = [tenths(stored_round["user_score"]), tenths(stored_round["bot_score"])]
        assert points == tuple(f"{tenths(v)} pts" for v in values)
        assert row == {
            "round": str(stored_round["round_no"]),
            "points": " / ".join(tenths(v) for v in values),
            "user-move": stored_round["user_move"],
            "bot-move": stored_round["bot_move"],
            "result": stored_round["result"],
            "score": f" {EN_DASH} ".join(scores),
        }
    assert page.text("#last-user-move") == played[-1]["user_move"]
    assert page.text("#last-bot-move") == played[-1]["bot_move"]
    final = (tenths(game["user_score"]), tenths(game["bot_score"]))
    assert (page.text("#user-score"), page.text("#bot-score")) == final
    assert page.text("#winner").startswith(f"{WINNERS[game['winner']]}, {final[0]} to {final[1]}")
    assert not page.shows("#play-area")
    won = game["winner"] == "user"
    page.until(lambda: page.text("#streak"), "the streak")
    assert page.text("#streak") == f"Streak: {int(won)} win{'' if won else 's'} in a row; " + (
        "best 1 win." if won else "best 0 wins."
    )
    assert page.errors() == []

    page.screenshot("finished-game")
    page.press("n")
    assert page.shows("#setup")
    assert not page.shows("#game")


@pytest.mark.slow
def test_the_debug_view_shows_what_every_alias_predicts_for_the_next_round(
    browser, launch, trained_cycle, tmp_path
):
    publish_copy(trained_cycle, tmp_path)
    start_game, _ = serve_page(launch, **project_env(tmp_path))
    page = PlayerPage(browser, start_game.url)
    name = "Debugger"

    page.debug("not-the-token")
    page.start("brian", name)
    refused = page.debug_status("The admin token is wrong.")
    page.debug(ADMIN_TOKEN)
    gambit = page.debug_status("Round 1,")
    shown = {}
    for round_no in range(1, 7):
        if round_no > 3:
            page.debug_status(f"Round {round_no},")
            shown |= {(round_no, alias): p for alias, p in page.predictions().items()}
        page.play(MOVES[round_no % 3])

    game, _, made = stored(tmp_path, game_id_of(tmp_path, name))
    assert refused == "The admin token is wrong."
    assert "opening gambit" in gambit
    assert shown == {
        (p["round_no"], p["alias"]): {
            "version": p["version"],
            "probabilities": (p["p_rock"], p["p_paper"], p["p_scissors"]),
            "predicted": p["predicted"],
            "acting": p["alias"] == game["alias"],
        }
        for p in made
    }
    assert [alias for round_no, alias in shown if round_no == 4] == [
        "Production",
        "B",
        "shadow1",
        "shadow2",
    ]
    for prediction in shown.values():
        assert sum(prediction["probabilities"]) == pytest.approx(1, abs=1e-3)
    wrong_token = [(e["source"], "status of 403" in e["message"]) for e in page.errors()]
    assert wrong_token == [("network", True)]


def test_a_reload_resumes_the_game_and_the_record_and_leaderboard_show_it(
    browser, launch, tmp_path
):
    start_game, _ = serve_page(launch, RPS_READ_CACHE_SECONDS="0")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    page = PlayerPage(browser, start_game.url)
    page.start("hal", "Resumer")
    for move in ("rock", "paper", "scissors"):
        page.play(move)
    before = (page.history(), page.text("#user-score"), page.text("#bot-score"))

    page.reload()
    resumed = (page.history(), page.text("#user-score"), page.text("#bot-score"))
    round_after_reload = page.text("#round-no")
    page.play_to_the_end()
    game_id = game_id_of(tmp_path, "Resumer")
    game, played, _ = stored(tmp_path, game_id)
    result = page.text("#winner")
    page.reload()
    unreadable = {"finished": accessibility_violations(browser)}
    page.screenshot("resumed-finished-game")

    assert resumed == before
    assert round_after_reload == "4"
    assert [r["user_move"] for r in played][:3] == ["rock", "paper", "scissors"]
    assert page.rounds_shown() == len(played) == game["rounds_played"]
    assert page.shows("#game-over") and not page.shows("#play-area")
    assert page.text("#winner") == result
    assert result.startswith(WINNERS[game["winner"]])

    add_finished_games(tmp_path, "rival-session", "Rival", "hal", ["user", "user", "bot"])
    page.reload()
    page.view("me", "#me-record")
    unreadable["me"] = accessibility_violations(browser)
    page.screenshot("your-games")
    me_bots, me_games = page.table("#me-bots"), page.table("#me-games")
    page.view("leaderboard", "#leaderboard-table tbody tr")
    unreadable["leaderboard"] = accessibility_violations(browser)
    page.screenshot("leaderboard")
    board = page.table("#leaderboard-table")
    page.view("play", "#game")
    page.find("#rematch").click()
    page.until(
        lambda: page.text("#round-no") == "1" and page.rounds_shown() == 0, "the rematch's round 1"
    )
    rematch = page.text("#bot-label")
    page.find("#other-bot").click() if page.shows("#other-bot") else page.press("n")
    hal = page.find('#policy option[value="hal"]').text

    outcome = {"user": "won", "bot": "lost", "tie": "tie"}[game["winner"]]
    user_wins = int(game["winner"] == "user")
    assert me_bots == [
        [
            "Hal",
            "1",
            str(user_wins),
            str(int(game["winner"] == "bot")),
            str(int(game["winner"] == "tie")),
            f"{100 * user_wins} %",
        ]
    ]
    assert [row[1:] for row in me_games] == [
        ["Hal", f"{tenths(game['user_score'])} {EN_DASH} {tenths(game['bot_score'])}", outcome]
    ]
    assert board == [["1", "Rival", "3", "2", "67 %", "2"]]  # Resumer has too few games
    assert page.session_id() not in str(board)
    assert rematch == "Hal"
    bot_wins = 1 + int(game["winner"] == "bot")
    assert hal == f"Hal, wins {round(100 * bot_wins / 4)} % of 4"
    assert unreadable == {"finished": [], "me": [], "leaderboard": []}
    assert page.errors() == []
