// RPS Quest player page: start a game on this origin, then play it on the play_url the
// server answers with (another origin, allowed by CORS). Every string that comes from a
// server or a player is rendered as text (textContent), never parsed as HTML.

const KEYS = new Map(
  Object.entries({ r: "rock", 1: "rock", p: "paper", 2: "paper", s: "scissors", 3: "scissors" }),
);
const RESULTS = { win: "You win the round", lose: "The bot wins the round", draw: "A draw" };
const TOKEN_KEY = "rpsquest.adminToken"; // present (even empty) = debug view on
const SESSION_KEY = "rpsquest.sessionId";

const $ = (id) => document.getElementById(id);
const moveButtons = [...document.querySelectorAll(".move")];

let game = null; // start_game's reply, then `round`, `round_points`, `finished` as play answers
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

function startGame(event) {
  event.preventDefault();
  const body = { policy: $("policy").value, difficulty: $("difficulty").value };
  const name = $("player-name").value.trim();
  if (name) body.player_name = name;
  const session = sessionStorage.getItem(SESSION_KEY);
  if (session) body.session_id = session;
  return guarded(async () => {
    const started = await postJson("./", body);
    sessionStorage.setItem(SESSION_KEY, started.session_id);
    game = { ...started, finished: false };
    showGame();
  });
}

function showGame() {
  $("player-label").textContent = game.player_name;
  const easy = game.difficulty === "easy" ? " (easy)" : "";
  $("bot-label").textContent = capitalized(game.policy) + easy;
  $("target").textContent = game.target_score;
  showScores(0, 0);
  $("history").tBodies[0].replaceChildren();
  $("last-round").hidden = true;
  $("winner").hidden = true;
  $("new-game").classList.remove("primary");
  $("play-area").hidden = false;
  showRoundPoints();
  $("setup").hidden = true;
  $("game").hidden = false;
  refreshDebug();
}

function newGame() {
  if ($("game").hidden) return;
  game = null;
  showError("");
  $("game").hidden = true;
  $("setup").hidden = false;
  updateButtons();
  refreshDebug();
  $("start").focus();
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

function showRound(reply) {
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
    $("winner").hidden = false;
    $("play-area").hidden = true;
    $("new-game").classList.add("primary");
    $("new-game").focus();
  } else {
    game.round = reply.round + 1;
    game.round_points = reply.next_round_points;
    showRoundPoints();
  }
  refreshDebug();
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
syncDifficulty();
updateButtons();
