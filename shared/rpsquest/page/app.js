// RPS Quest player page: start a game on this origin, then play it on the play_url the
// server answers with (another origin, allowed by CORS). Every string that comes from a
// server or a player is rendered as text (textContent), never parsed as HTML.
//
// The browser keeps the player's session id for good (localStorage: the record on "Your
// games" and the leaderboard belongs to it) and the game in play for the tab's life
// (sessionStorage), so a reload resumes the game from play's POST /state.

const KEYS = new Map(
  Object.entries({ r: "rock", 1: "rock", p: "paper", 2: "paper", s: "scissors", 3: "scissors" }),
);
const RESULTS = { win: "You win the round", lose: "The bot wins the round", draw: "A draw" };
const TOKEN_KEY = "rpsquest.adminToken"; // present (even empty) = debug view on
const SESSION_KEY = "rpsquest.sessionId";
const GAME_KEY = "rpsquest.game"; // {game_id, game_token, play_url} of the game in play
const SESSION_HEADER = "X-Session-Id";
const BOT_NAMES = new Map(
  [...document.querySelectorAll("#policy option")].map((o) => [o.value, o.textContent]),
);

const $ = (id) => document.getElementById(id);
const moveButtons = [...document.querySelectorAll(".move")];

let game = null; // start_game's reply (or play's state), then `round`, `round_points`, `finished`
let lastStart = null; // the body of the last game started, for a rematch
let busy = false;
let debugTicket = 0; // only the newest predictions request may render

class ApiError extends Error {}

async function request(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError("The server could not be reached; check the connection and try again.");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(body?.error?.message ?? `The server answered ${response.status}.`);
  }
  return body;
}

function postJson(url, body) {
  return request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function updateButtons() {
  const canPlay = game !== null && !game.finished && !busy;
  for (const button of moveButtons) button.disabled = !canPlay;
  $("start").disabled = busy;
}

// One game request at a time; an API failure is shown to the player (a bug still throws).
async function guarded(action) {
  if (busy) return;
  busy = true;
  showError("");
  updateButtons();
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showError(error.message);
  } finally {
    busy = false;
    updateButtons();
  }
}

const points = (value) => value.toFixed(1);
const capitalized = (text) => text.charAt(0).toUpperCase() + text.slice(1);

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

// -- setup --------------------------------------------------------------------------------

function syncDifficulty() {
  const classic = $("policy").selectedOptions[0].parentElement.id === "classic-bots";
  if (classic) $("difficulty").value = "normal";
  $("difficulty").disabled = classic;
}

const sessionId = () => localStorage.getItem(SESSION_KEY);
const percent = (rate) => (rate === null ? "–" : `${Math.round(100 * rate)} %`);

// Each bot's win rate against players this week, beside its name in the picker.
async function showBotRecords() {
  let answer;
  try {
    answer = await request("bots");
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return; // the picker works without them
  }
  for (const bot of answer.bots) {
    const option = $("policy").querySelector(`option[value="${CSS.escape(bot.policy)}"]`);
    if (!option) continue;
    const record = bot.games ? `, wins ${percent(bot.bot_win_rate)} of ${bot.games}` : "";
    option.textContent = BOT_NAMES.get(bot.policy) + record;
  }
  $("bots-hint").textContent = `How often each bot won its games in the last ${answer.days} days.`;
  $("bots-hint").hidden = false;
}

function startGame(event) {
  event.preventDefault();
  const body = { policy: $("policy").value, difficulty: $("difficulty").value };
  const name = $("player-name").value.trim();
  if (name) body.player_name = name;
  return begin(body);
}

function begin(body) {
  const session = sessionId();
  return guarded(async () => {
    const started = await postJson("./", session ? { ...body, session_id: session } : body);
    localStorage.setItem(SESSION_KEY, started.session_id);
    lastStart = body;
    keepGame(started, started.play_url);
    game = { ...started, finished: false };
    showGame([]);
  });
}

function keepGame(answer, playUrl) {
  const kept = { game_id: answer.game_id, game_token: answer.game_token, play_url: playUrl };
  sessionStorage.setItem(GAME_KEY, JSON.stringify(kept));
}

// After a reload: the tab's game as play stored it, finished or not.
async function resumeGame() {
  let kept;
  try {
    kept = JSON.parse(sessionStorage.getItem(GAME_KEY));
  } catch {
    kept = null;
  }
  if (!kept?.game_id || !kept.game_token || !kept.play_url) return;
  const body = { game_id: kept.game_id, game_token: kept.game_token };
  return guarded(async () => {
    let state;
    try {
      state = await postJson(new URL("state", kept.play_url), body);
    } catch (error) {
      sessionStorage.removeItem(GAME_KEY); // gone or not ours: nothing left to resume
      throw error;
    }
    game = {
      ...state,
      ...kept,
      round: state.next_round,
      round_points: state.next_round_points,
      finished: false,
    };
    lastStart = { policy: state.policy, difficulty: state.difficulty };
    showGame(state.rounds);
  });
}

function showGame(rounds) {
  $("player-label").textContent = game.player_name;
  const easy = game.difficulty === "easy" ? " (easy)" : "";
  $("bot-label").textContent = capitalized(game.policy) + easy;
  $("target").textContent = game.target_score;
  showScores(0, 0);
  $("history").tBodies[0].replaceChildren();
  $("last-round").hidden = true;
  $("game-over").hidden = true;
  $("new-game").hidden = false;
  $("play-area").hidden = false;
  $("setup").hidden = true;
  $("game").hidden = false;
  if (rounds.length === 0) {
    showRoundPoints();
    refreshDebug();
  }
  const upcoming = { next_round_points: game.round_points, winner: game.winner };
  for (const [i, played] of rounds.entries()) {
    const last = i === rounds.length - 1;
    showRound({ ...played, ...upcoming, finished: last && game.winner !== null }, last);
  }
}

function newGame() {
  if ($("game").hidden) return;
  game = null;
  sessionStorage.removeItem(GAME_KEY);
  showError("");
  $("game").hidden = true;
  $("setup").hidden = false;
  updateButtons();
  refreshDebug();
  $("start").focus();
}

function rematch() {
  if (game === null || !game.finished || lastStart === null) return;
  return begin(lastStart);
}

// -- playing ------------------------------------------------------------------------------

function showRoundPoints() {
  $("round-no").textContent = game.round;
  for (const span of document.querySelectorAll("[data-points]")) {
    span.textContent = `${points(game.round_points[span.dataset.points])} pts`;
  }
}

function showScores(user, bot) {
  $("user-score").textContent = points(user);
  $("bot-score").textContent = points(bot);
  $("user-progress").value = Math.min(user, game.target_score);
  $("bot-progress").value = Math.min(bot, game.target_score);
}

function play(move) {
  if (game === null || game.finished) return;
  const body = { game_id: game.game_id, game_token: game.game_token, move, round: game.round };
  return guarded(async () => showRound(await postJson(game.play_url, body)));
}

function resultText(reply) {
  if (reply.result === "draw") return `${RESULTS.draw}: 0.5 points each.`;
  const [who, delta] =
    reply.result === "win" ? ["you", reply.user_delta] : ["the bot", reply.bot_delta];
  return `${RESULTS[reply.result]}: ${points(delta)} points for ${who}.`;
}

function winnerText(reply) {
  const score = `${points(reply.user_score)} to ${points(reply.bot_score)}`;
  if (reply.winner === "user") return `You win, ${score}!`;
  if (reply.winner === "bot") return `The bot wins, ${score}.`;
  return `A tie, ${score}.`;
}

function addHistoryRow(reply) {
  const row = $("history").tBodies[0].insertRow(0); // newest first
  row.dataset.round = reply.round;
  const values = reply.round_points;
  cell(row, reply.round, "round");
  cell(row, [values.rock, values.paper, values.scissors].map(points).join(" / "), "points");
  cell(row, reply.user_move, "user-move");
  cell(row, reply.bot_move, "bot-move");
  cell(row, reply.result, `result ${reply.result}`);
  cell(row, `${points(reply.user_score)} – ${points(reply.bot_score)}`, "score");
}

function showRound(reply, latest = true) {
  showScores(reply.user_score, reply.bot_score);
  $("last-user-move").textContent = reply.user_move;
  $("last-bot-move").textContent = reply.bot_move;
  $("last-result").textContent = resultText(reply);
  $("last-result").className = reply.result;
  $("last-round").hidden = false;
  addHistoryRow(reply);
  if (reply.finished) {
    game.finished = true;
    $("winner").textContent = winnerText(reply);
    $("streak").textContent = "";
    $("game-over").hidden = false;
    $("play-area").hidden = true;
    $("new-game").hidden = true;
    $("rematch").focus();
    showStreak();
  } else if (latest) {
    game.round = reply.round + 1;
    game.round_points = reply.next_round_points;
    showRoundPoints();
  }
  if (latest) refreshDebug();
}

// -- the player's record ------------------------------------------------------------------

function getRecord() {
  return request("me", { headers: { [SESSION_HEADER]: sessionId() } });
}

const streakText = (n) => (n === 1 ? "1 win" : `${n} wins`);

async function showStreak() {
  if (!sessionId()) return;
  try {
    const record = await getRecord();
    $("streak").textContent =
      `Streak: ${streakText(record.current_streak)} in a row; best ${streakText(record.best_streak)}.`;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("streak").textContent = error.message;
  }
}

const RESULT_NAMES = { user: "won", bot: "lost", tie: "tie" };

async function showMe() {
  $("me-record").hidden = true;
  if (!sessionId()) {
    $("me-status").textContent = "No games yet: play one and your record shows here.";
    return;
  }
  $("me-status").textContent = "Loading your games…";
  let record;
  try {
    record = await getRecord();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("me-status").textContent = error.message;
    return;
  }
  const name = record.player_name ?? "You";
  $("me-status").textContent =
    `${name}: ${record.wins} of ${record.games} finished games won against the bots.`;
  $("me-streak").textContent = streakText(record.current_streak);
  $("me-best").textContent = streakText(record.best_streak);
  const bots = record.bots.map((bot) => {
    const row = document.createElement("tr");
    cell(row, capitalized(bot.policy), "policy");
    for (const field of ["games", "wins", "losses", "ties"]) cell(row, bot[field], field);
    cell(row, percent(bot.win_rate), "win-rate");
    return row;
  });
  $("me-bots").tBodies[0].replaceChildren(...bots);
  const games = record.recent_games.map((played) => {
    const row = document.createElement("tr");
    cell(row, new Date(played.started_at).toLocaleString(), "started");
    cell(row, capitalized(played.policy), "policy");
    cell(row, `${points(played.user_score)} – ${points(played.bot_score)}`, "score");
    cell(row, played.finished ? RESULT_NAMES[played.winner] : "not finished", "result");
    return row;
  });
  $("me-games").tBodies[0].replaceChildren(...games);
  $("me-record").hidden = false;
}

async function showLeaderboard() {
  const url = new URL("leaderboard", document.baseURI);
  url.searchParams.set("period", $("period").value);
  if ($("leaderboard-policy").value) url.searchParams.set("policy", $("leaderboard-policy").value);
  $("leaderboard-status").textContent = "Loading the leaderboard…";
  let board;
  try {
    board = await request(url);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    $("leaderboard-status").textContent = error.message;
    return;
  }
  $("min-games").textContent = board.min_games;
  $("leaderboard-status").textContent = board.players.length
    ? ""
    : `Nobody has ${board.min_games} finished games in this period yet.`;
  const rows = board.players.map((player) => {
    const row = document.createElement("tr");
    cell(row, player.rank, "rank");
    cell(row, player.player_name, "name");
    cell(row, player.games, "games");
    cell(row, player.wins, "wins");
    cell(row, percent(player.win_rate), "win-rate");
    cell(row, player.best_streak, "best-streak");
    return row;
  });
  $("leaderboard-table").tBodies[0].replaceChildren(...rows);
}

// -- views --------------------------------------------------------------------------------

const VIEWS = { play: "play-view", me: "me-view", leaderboard: "leaderboard-view" };

function showView(name) {
  for (const [view, id] of Object.entries(VIEWS)) $(id).hidden = view !== name;
  for (const button of document.querySelectorAll("[data-view]")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (name === "me") showMe();
  if (name === "leaderboard") showLeaderboard();
}

// -- debug view ---------------------------------------------------------------------------

const PHASES = {
  gambit: "Rounds 1–3 are the bot's opening gambit: no model predicts yet.",
  legacy: "A classic bot: no model predicts.",
  fallback: "The acting alias has no usable model: the fallback bot plays this round.",
  ml: "What each alias predicts you will play; the acting alias (bold) picks the bot's move.",
};

function showPredictions(answer) {
  const acting = answer.alias ? `, acting alias ${answer.alias}` : "";
  $("debug-status").textContent =
    `Round ${answer.round}, ${answer.family}${acting}. ${PHASES[answer.phase]}`;
  const rows = answer.predictions.map((prediction) => {
    const row = document.createElement("tr");
    row.dataset.alias = prediction.alias;
    row.classList.toggle("acting", prediction.alias === answer.alias);
    cell(row, prediction.alias, "alias");
    cell(row, prediction.version, "version");
    for (const move of ["rock", "paper", "scissors"]) {
      const probability = prediction.probabilities[move];
      cell(row, `${(100 * probability).toFixed(1)} %`, move).dataset.probability = probability;
    }
    cell(row, prediction.predicted, "predicted");
    return row;
  });
  $("predictions").tBodies[0].replaceChildren(...rows);
}

async function refreshDebug() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const ticket = ++debugTicket;
  $("debug-output").hidden = token === null;
  $("predictions").tBodies[0].replaceChildren();
  if (token === null) return;
  if (game === null) {
    $("debug-status").textContent = "Predictions show here once a game is running.";
    return;
  }
  if (game.finished) {
    $("debug-status").textContent = "The game is over: there is no next round to predict.";
    return;
  }
  $("debug-status").textContent = `Round ${game.round}: asking play…`;
  const url = new URL("predictions", game.play_url);
  url.searchParams.set("game_id", game.game_id);
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  try {
    const answer = await request(url, { headers });
    if (ticket === debugTicket) showPredictions(answer);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (ticket === debugTicket) $("debug-status").textContent = error.message;
  }
}

function debugOn(event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("admin-token").value.trim());
  refreshDebug();
}

function debugOff() {
  sessionStorage.removeItem(TOKEN_KEY);
  $("admin-token").value = "";
  refreshDebug();
}

// -- wiring -------------------------------------------------------------------------------

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  if (event.target.closest("input, select, textarea") || $("game").hidden) return;
  if ($("play-view").hidden) return;
  const key = event.key.toLowerCase();
  if (key === "n") {
    event.preventDefault();
    newGame();
  } else if (KEYS.has(key)) {
    event.preventDefault();
    play(KEYS.get(key));
  }
}

$("policy").addEventListener("change", syncDifficulty);
$("start-form").addEventListener("submit", startGame);
$("new-game").addEventListener("click", newGame);
$("other-bot").addEventListener("click", newGame);
$("rematch").addEventListener("click", rematch);
for (const button of document.querySelectorAll("[data-view]")) {
  button.addEventListener("click", () => showView(button.dataset.view));
}
$("leaderboard-form").addEventListener("change", showLeaderboard);
$("leaderboard-form").addEventListener("submit", (event) => event.preventDefault());
for (const button of moveButtons) {
  button.addEventListener("click", () => play(button.dataset.move));
}
$("debug-form").addEventListener("submit", debugOn);
$("debug-off").addEventListener("click", debugOff);
document.addEventListener("keydown", onKey);

const storedToken = sessionStorage.getItem(TOKEN_KEY);
if (storedToken !== null) {
  $("admin-token").value = storedToken;
  $("debug").open = true;
}
for (const [policy, name] of BOT_NAMES) {
  $("leaderboard-policy").add(new Option(name, policy));
}
// A session id from before the record was kept for good moves over once.
if (!sessionId() && sessionStorage.getItem(SESSION_KEY)) {
  localStorage.setItem(SESSION_KEY, sessionStorage.getItem(SESSION_KEY));
}
syncDifficulty();
updateButtons();
showBotRecords();
resumeGame();
