/*
 * The play page: one WebSocket to the game server, speaking docs/protocol.md.
 *
 * The server steps the game and streams frames; this page draws them, sends the set of held
 * keys whenever it changes, acknowledges frames so the server knows how far ahead it may run,
 * and measures what the player sees (frames drawn per second, key-to-frame latency).
 * Pure frame decoding lives in frame-decoder.js (window.ArcadeFrames), loaded first.
 *
 * The game waits for the player: a new episode shows its first frame and "press any key (or
 * Start) to begin", counts down 3-2-1 and only then sends `begin`, the server's cue to step.
 * A real-time game pauses (`pause`) while its tab is hidden and counts down again after.
 *
 * Two more modes share this page (data-mode): "match", a seat in a game of several players,
 * where `start` joins the waiting room, `lobby` messages say who is there, `seat` says which
 * seat is ours (its keys and role), and the game starts for everyone after the server's
 * countdown; and "watch", a spectator's read-only view, which sends no input at all.
 */
(() => {
  "use strict";

  const Frames = window.ArcadeFrames;
  const root = document.getElementById("play");
  if (!root || !Frames) return;

  const MAX_BACKLOG = 8; // frames waiting to be decoded before we skip ahead
  const KEYFRAME_RETRY_MS = 2000; // ask again only if a keyframe request went unanswered this long
  const PING_EVERY_MS = 5000;
  const ERROR_SHOWN_MS = 6000;
  const MAX_KEYS = 16; // protocol limit on keys in one input message
  const MAX_PENDING_INPUTS = 64; // inputs whose latency we are still waiting to measure
  const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 3000]; // then every 3 s, within the grace
  const SEAT_RETRY_MS = 3000; // how often a player waiting for a seat asks again
  const COUNTDOWN_FROM = 3; // seconds of 3-2-1 before play begins
  const MATCH = root.dataset.mode === "match"; // a seat in a game of several players
  const WATCH = root.dataset.mode === "watch"; // a spectator: frames in, nothing played
  const TURN_BASED = root.dataset.turnBased === "true";
  const TWO_SIDED = root.dataset.twoSided === "true"; // score as both sides' points (Pong)
  // A study's game block: the next game starts by itself this many seconds after one ends
  // (its page removes the attribute once the block is done).
  const AUTOSTART = Number(root.dataset.autostart || 0);
  // A phone or tablet: no keyboard to count on. On-screen buttons, where the game has them.
  const TOUCH_ONLY =
    window.matchMedia("(pointer: coarse)").matches &&
    !window.matchMedia("(any-pointer: fine)").matches;
  // A board game's moves, where they are clicked: [left, top, width, height, key code] in the
  // frame's pixels (the key map's "board" regions). A click presses that move's key.
  const REGIONS = JSON.parse(document.getElementById("board-regions")?.textContent || "[]");
  const KEYBOARD_NEEDED =
    TOUCH_ONLY && root.dataset.touchControls !== "true" && REGIONS.length === 0;
  const board = { cursor: 0 }; // index into REGIONS of the region the keyboard's cursor is on
  // Keys that mean something to the browser or the page, never "any key" to begin.
  const NOT_ANY_KEY = new Set(["Tab", "Escape", "ShiftLeft", "ShiftRight", "ControlLeft",
    "ControlRight", "AltLeft", "AltRight", "MetaLeft", "MetaRight", "CapsLock", "F5"]);
  // Close codes that refuse this page; reconnecting would be refused again.
  // 4409: the player's newer tab took the game over; reconnecting would take it back.
  const REFUSED = new Set([4401, 4403, 4404, 4409, 4429]);
  // The episode to resume after a dropped socket or a reload (per tab, per game).
  const RESUME_KEY = `arcade:resume:${root.dataset.wsPath}`;

  const el = {
    stage: document.getElementById("stage"),
    screen: document.getElementById("screen"),
    score: document.getElementById("score"),
    ret: document.getElementById("return"), // two-sided games: the return beside the points
    moves: document.getElementById("moves"), // turn-based games
    lives: document.getElementById("lives"),
    fps: document.getElementById("fps"),
    latency: document.getElementById("latency"),
    state: document.getElementById("episode-state"),
    summary: document.getElementById("summary"),
    newGame: document.getElementById("new-game"),
    error: document.getElementById("error"),
    reconnect: document.getElementById("reconnect"),
    saved: document.getElementById("saved"),
    begin: document.getElementById("begin"),
    beginText: document.getElementById("begin-text"),
    beginButton: document.getElementById("begin-button"),
    countdown: document.getElementById("countdown"),
    keyboardNeeded: document.getElementById("keyboard-needed"),
    lobby: document.getElementById("lobby"), // the waiting room's overlay (match mode)
    lobbyText: document.getElementById("lobby-text"),
    lobbySeats: document.getElementById("lobby-seats"),
    leave: document.getElementById("leave"),
    seatInfo: document.getElementById("seat-info"),
    pad: document.getElementById("pad"),
    boardCursor: document.getElementById("board-cursor"), // a board game's keyboard cursor
    // A spectator of a game of several seats: each seat's score (`scores` messages).
    seatScores: [...document.querySelectorAll("[data-seat-score]")],
  };
  const ctx = el.screen.getContext("2d", { alpha: false });

  // Everything the page knows, in one place.
  const s = {
    seat: null, // match mode: our seat's index, once the waiting room has given us one
    ws: null,
    opened: false, // the handshake succeeded (a refused one closes with 1006 and no code)
    helloSeen: false,
    // connecting | ready | standby (first frame, waiting for the player) | countdown |
    // playing | paused (tab hidden; in a game of several players, a player away) | over |
    // error | keyboard (touch-only, no on-screen keys); match mode also waiting | starting,
    // watch mode watching
    state: "connecting",
    away: new Map(), // a game of several players: seat -> its `seat` "away" message, while away
    countdownTimer: null,
    autoTimer: null, // a study block's next game, due after one ends
    autoBegin: false, // that game's countdown starts without a key
    pausesWhenHidden: false, // hello.game.pauses_when_hidden: send `pause` while hidden
    steps: 0, // steps of this episode so far (the newest frame's number)
    points: [0, 0], // two-sided games: the player's and the opponent's points
    seatScores: null, // a spectator of several seats: {returns, points}, one each a seat
    moves: null, // turn-based games that count moves (info.moves)
    bestMoves: null, // the fewest moves possible, once the game says (info.best_moves)
    episode: null, // uuid of the current episode
    startPending: false, // we sent `start` and have not seen its `episode` yet
    gameKeys: new Set(), // codes the game listens to (hello.game.keys)
    ackEvery: 1,
    palette: null, // Uint32Array(256) of packed RGBA, for indexed frames; grows as colours appear

    // Decoding. Frames and the episode events between them are handled strictly in order.
    queue: [], // {kind: "frame", header, data} | {kind: "event", msg}
    draining: false,
    held: null, // Uint8Array: pixels of the last decoded frame
    heldFrame: null, // its frame number
    image: null, // ImageData at the game's native size
    image32: null, // the same pixels, one Uint32 each
    keyframeRequestedAt: null, // performance.now() of an unanswered keyframe request
    newestFrame: null, // newest frame number consumed this episode (decoded or skipped)
    framesSinceAck: 0,

    // Input and latency.
    seq: 0,
    heldKeys: new Set(), // game keys held now
    capturedKeys: new Set(), // held keys whose keydown we took from the browser
    pendingInputs: new Map(), // seq -> t_key, until a frame reflects that input
    lastDrawnFrame: null,
    lastDrawnAt: 0, // performance.now() when lastDrawnFrame was drawn
    latencyMs: null,
    rttMs: null,
    sawLives: false, // lives is 0 for games without any; show it once it has been non-zero

    // Counters, for the status bar and window.arcadeState.
    framesDrawn: 0,
    keyframes: 0,
    deltas: 0,
    skipped: 0, // frames not drawn: dropped from a backlog or deltas against another base
    decodeErrors: 0,
    keyframeRequests: 0,
    fpsCount: 0,
    fpsSince: performance.now(),

    reconnectGraceMs: 0, // how long the server keeps a dropped socket's game paused (hello)
    reconnectUntil: null, // performance.now() after which we stop trying to reconnect
    reconnectAttempt: 0,
    reconnectTimer: null,
    played: new Set(), // episodes played on this page: their episode_saved notices are shown
    saved: null, // the last episode_saved notice shown
    seatWait: false, // no seat was free: the socket closes and a new one asks again
    seatTimer: null,

    fatalMessage: null, // an `error` with fatal set: the reason the socket is about to close
    errorTimer: null,
    pingTimer: null,
    unloading: false,
    shown: {}, // text last written to each status element, to touch the DOM only on change
  };

  // Read-only view for automated browser tests.
  window.arcadeState = Object.freeze({
    get framesDrawn() { return s.framesDrawn; },
    get frame() { return s.lastDrawnFrame; },
    get episode() { return s.episode; },
    get state() { return s.state; },
    get keyframes() { return s.keyframes; },
    get deltas() { return s.deltas; },
    get skipped() { return s.skipped; },
    get decodeErrors() { return s.decodeErrors; },
    get keyframeRequests() { return s.keyframeRequests; },
    get seq() { return s.seq; },
    get latency() { return s.latencyMs; },
    get rtt() { return s.rttMs; },
    get saved() { return s.saved; },
    get points() { return [...s.points]; },
    get seatScores() {
      return s.seatScores && { returns: [...s.seatScores.returns], points: [...s.seatScores.points] };
    },
    get moves() { return s.moves; },
    get boardCursor() { return board.cursor; },
  });

  // --- the socket ----------------------------------------------------------------------------

  function connect() {
    if (typeof DecompressionStream === "undefined") {
      fail("This browser is too old to show the game. Update it, then reload this page.");
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + root.dataset.wsPath);
    ws.binaryType = "arraybuffer";
    s.opened = false;
    s.helloSeen = false;
    ws.addEventListener("open", () => {
      s.opened = true;
    });
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", onClose);
    s.ws = ws;
    setState("connecting");
  }

  function send(msg) {
    if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(msg));
  }

  function onMessage(event) {
    if (typeof event.data !== "string") {
      enqueueFrame(event.data);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      console.warn("Ignoring a message that is not JSON:", event.data);
      return;
    }
    switch (msg?.type) {
      case "hello":
        onHello(msg);
        break;
      case "episode":
      case "palette":
      case "points":
      case "scores":
      case "turn":
      case "episode_end":
        // These belong between the frames around them: queue them behind frames still decoding.
        enqueue({ kind: "event", msg });
        break;
      case "pong":
        onPong(msg);
        break;
      case "lobby":
        onLobby(msg);
        break;
      case "seat":
        // A seat going away or coming back pauses or resumes the game between two frames.
        if (typeof msg.state === "string") enqueue({ kind: "event", msg });
        else onSeat(msg);
        break;
      case "episode_saved":
        onSaved(msg);
        break;
      case "error":
        onServerError(msg);
        break;
      default:
        console.warn("Ignoring a message of unknown type:", msg?.type);
    }
  }

  function onHello(msg) {
    if (s.helloSeen) return; // one hello a socket; a repeat must not restart the game
    s.helloSeen = true;
    if (msg.protocol !== 1) {
      s.fatalMessage = "This page is out of date. Reload it to play.";
      s.ws.close();
      return;
    }
    const game = msg.game;
    s.gameKeys = new Set(game.keys);
    // Else the game goes on, hidden; a study may choose so for its games (data-no-hidden-pause).
    s.pausesWhenHidden = Boolean(game.pauses_when_hidden) && root.dataset.noHiddenPause !== "true";
    s.ackEvery = Math.max(1, Math.floor(msg.ack_every) || 1);
    if (msg.window > 0 && s.ackEvery >= msg.window) {
      // Acking only after the server has stopped for want of an ack would stall the stream.
      console.warn(`ack_every ${msg.ack_every} is not below window ${msg.window}; acking sooner.`);
      s.ackEvery = Math.max(1, Math.floor(msg.window / 2));
    }
    // The palette and size may come only with `episode` (the server learns a game's colours
    // as they appear); frame headers carry the size too.
    if (game.palette) s.palette = Frames.paletteFromBase64(game.palette);
    if (game.width > 0 && game.height > 0) ensureImage(game.width, game.height);
    s.reconnectGraceMs = Math.max(0, Number(msg.reconnect_grace) || 0) * 1000;
    el.newGame.disabled = false;
    el.reconnect.hidden = true;
    if (!s.seatWait) showError("");
    setState("ready");
    startPinging();
    const paused = savedEpisode();
    if (WATCH) {
      el.newGame.hidden = true;
      setState("watching", "waiting for the game");
    } else if (KEYBOARD_NEEDED) {
      // No episode is started, so nothing is recorded on a device that cannot play it.
      el.newGame.disabled = true;
      el.keyboardNeeded.hidden = false;
      setState("keyboard", "needs a keyboard");
    } else if (paused) {
      // Our game is paused on the server, waiting for us: go on with it.
      send({ type: "resume", episode: paused });
      s.startPending = true;
      setState("ready", "resuming");
    } else {
      startGame();
    }
    s.reconnectUntil = null;
    s.reconnectAttempt = 0;
  }

  // --- resuming after a dropped socket -------------------------------------------------------

  /** The episode that was running when this tab lost its socket, if it may still be paused. */
  function savedEpisode() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(RESUME_KEY) || "null");
      if (saved && Date.now() - saved.droppedAt < s.reconnectGraceMs) return saved.episode;
    } catch {
      // Storage may be disabled or hold something else: start a new game instead.
    }
    return null;
  }

  function saveEpisode(droppedAt = Date.now()) {
    try {
      if (s.episode && inGame()) {
        sessionStorage.setItem(RESUME_KEY, JSON.stringify({ episode: s.episode, droppedAt }));
      }
    } catch {
      // Without storage a reload starts a new game; a dropped socket still resumes.
    }
  }

  function forgetEpisode() {
    try {
      sessionStorage.removeItem(RESUME_KEY);
    } catch {
      // nothing saved
    }
  }

  /** Try again until the grace period is over; the server holds the game paused meanwhile. */
  function scheduleReconnect() {
    s.reconnectUntil ??= performance.now() + s.reconnectGraceMs;
    const delay = RECONNECT_DELAYS_MS[Math.min(s.reconnectAttempt, RECONNECT_DELAYS_MS.length - 1)];
    if (performance.now() + delay > s.reconnectUntil) {
      forgetEpisode();
      s.reconnectUntil = null;
      fail("The connection to the server was lost and could not be restored. Reconnect to play.");
      return;
    }
    s.reconnectAttempt++;
    setState("connecting", "reconnecting… (the game is paused)");
    clearTimeout(s.reconnectTimer);
    s.reconnectTimer = setTimeout(connect, delay);
  }

  /**
   * The workers stored and checked an episode of this player's. Only this page's own games are
   * reported here (a notice reaches every open page of the player, and it may come before or
   * after episode_end); My episodes lists every one, with or without an open page.
   */
  function onSaved(msg) {
    if (!s.played.has(msg.episode)) return;
    const verdict = {
      verified: "the replay matches every frame",
      mismatch: "the replay differs from the recording",
      failed: "the replay could not run",
    }[msg.verification] || "the replay check is still running";
    const status = msg.status === "complete" ? "saved" : "saved incomplete";
    s.saved = { ...msg };
    el.saved.textContent = `Your game of ${msg.steps} steps is ${status}; ${verdict}. `;
    const link = document.createElement("a");
    link.href = el.saved.dataset.episodesUrl;
    link.textContent = "My episodes";
    el.saved.append(link);
    el.saved.dataset.episode = msg.episode;
    el.saved.hidden = false;
  }

  function onPong(msg) {
    s.rttMs = performance.now() - msg.t;
    if (el.latency) el.latency.title = `Round trip to the server: ${Math.round(s.rttMs)} ms`;
  }

  function onServerError(msg) {
    if (msg.code === "not_started" || msg.code === "wrong_episode") {
      // Keys sent in the moment between the episode ending on the server and us hearing of it.
      console.debug(`Input arrived after the episode ended (${msg.code}):`, msg.message);
      return;
    }
    if (msg.code === "taken_over") {
      forgetEpisode(); // the game goes on in the newer tab, not after a reload of this one
    }
    if (msg.code === "server_error") {
      // The server paused the game as for a dropped socket: reconnecting resumes it.
      showError(msg.message);
      return;
    }
    if (msg.code === "busy") return; // the start already under way answers for both
    if (msg.code === "start_failed" || msg.code === "too_many_starts") {
      s.startPending = false;
      setState("ready");
    }
    if (msg.code === "seated") {
      // This player's other tab holds a seat in this game: this one waits for nothing.
      s.startPending = false;
      setState("over", "playing in another tab");
    }
    if (msg.code === "full") {
      // This process has no seat free; a new socket may land on one that has.
      s.startPending = false;
      s.seatWait = true;
      setState("waiting", "all seats taken, waiting…");
      showError(msg.message, { sticky: true });
      clearTimeout(s.seatTimer);
      s.seatTimer = setTimeout(() => s.ws && s.ws.close(1000), SEAT_RETRY_MS);
      return;
    }
    if (msg.code === "resume_failed") {
      // The paused game ended meanwhile (it is recorded as abandoned): begin a new one.
      forgetEpisode();
      s.startPending = false;
      showError("Your last game could not be resumed, so a new one has started.");
      startGame();
      return;
    }
    if (msg.fatal) s.fatalMessage = msg.message;
    const message = msg.message || "Something went wrong. Reload the page.";
    showError(message, { sticky: Boolean(msg.fatal) });
  }

  function onClose(event) {
    s.ws = null;
    stopPinging();
    releaseAllKeys();
    if (s.unloading) return;
    if (s.seatWait) {
      s.seatWait = false;
      connect(); // and ask for a seat again
      return;
    }
    const dropped = s.opened && !s.fatalMessage && !REFUSED.has(event.code);
    const wasPlaying = inGame() || (s.state === "connecting" && s.reconnectUntil);
    if (dropped && wasPlaying && s.reconnectGraceMs > 0) {
      if (s.reconnectUntil === null) saveEpisode();
      scheduleReconnect();
      return;
    }
    if (s.reconnectUntil !== null && !s.opened && !s.fatalMessage) {
      scheduleReconnect(); // the server is not back yet
      return;
    }
    // A spectator's game that is not live cannot come back by reconnecting: no button for it.
    const retry = !(WATCH && event.code === 4404);
    fail(s.fatalMessage || closeMessage(event.code), { retry });
  }

  function closeMessage(code) {
    if (!s.opened) {
      return "Could not connect to the game. If you were signed out, log in again, then reconnect.";
    }
    switch (code) {
      case 4401:
        return "You are signed out. Log in again, then reconnect.";
      case 4403:
        return WATCH
          ? "You may watch only the games you play in."
          : "Your account may not play this game.";
      case 4404:
        return WATCH
          ? "This game is not being played now (it has ended), so there is nothing to watch."
          : "This game is not available any more. Pick another from the library.";
      case 4409:
        return "This game moved to your newer tab or window. Reconnect here to take it back.";
      case 4429:
        return "The page sent too many messages, so the server closed it. Reconnect to play on.";
      case 1001:
        return "The server went away (it may be restarting). Reconnect in a moment.";
      default:
        return "The connection to the server was lost. Check your network, then reconnect.";
    }
  }

  /** The page cannot go on: say why and offer to reconnect. */
  function fail(message, { retry = true } = {}) {
    setState("error", WATCH && !retry ? "not live" : "disconnected");
    showError(message, { sticky: true });
    el.newGame.disabled = true;
    el.reconnect.hidden = !retry;
  }

  function startGame() {
    if (KEYBOARD_NEEDED) return;
    clearTimeout(s.autoTimer);
    cancelCountdown();
    send({ type: "start" });
    s.startPending = true;
    setState("ready", "starting");
    el.summary.hidden = true;
  }

  // --- waiting for the player ----------------------------------------------------------------

  /** The episode's first frame (or a paused one) is up; nothing moves until the player says. */
  function standBy(paused) {
    cancelCountdown();
    if (TURN_BASED) {
      // A turn-based game moves only on key presses anyway: every key is a move from here.
      beginNow();
      return;
    }
    setState(paused ? "paused" : "standby", paused ? "paused" : TOUCH_ONLY ? "press Start" : "press any key");
    el.beginText.textContent = paused
      ? "Paused while this tab was hidden. Press any key (or Start) to go on"
      : TOUCH_ONLY
        ? "Press Start to begin"
        : "Press any key (or Start) to begin";
    el.beginButton.textContent = paused ? "Go on" : "Start";
    el.countdown.hidden = true;
    el.beginButton.hidden = false;
    el.begin.hidden = false;
    el.screen.focus({ preventScroll: true });
    if (s.autoBegin && !paused) {
      s.autoBegin = false;
      startCountdown();
    }
  }

  /** 3-2-1, then play. Keys held meanwhile are sent as they change: they count from step 1. */
  function startCountdown() {
    // (A game of several players pauses for a player away, not for us: no key resumes it.)
    if (MATCH || WATCH || (s.state !== "standby" && s.state !== "paused")) return;
    setState("countdown", "get ready");
    el.beginText.textContent = "Get ready";
    el.beginButton.hidden = true;
    el.countdown.hidden = false;
    let left = COUNTDOWN_FROM;
    const tick = () => {
      if (left === 0) {
        beginNow();
        return;
      }
      el.countdown.textContent = String(left);
      left--;
      s.countdownTimer = setTimeout(tick, 1000);
    };
    tick();
  }

  function cancelCountdown() {
    clearTimeout(s.countdownTimer);
    s.countdownTimer = null;
    el.begin.hidden = true;
  }

  function beginNow() {
    cancelCountdown();
    send({ type: "begin" });
    setState("playing");
    el.screen.focus({ preventScroll: true });
  }

  // --- the waiting room (match mode) ----------------------------------------------------------

  const SEAT_STATE = {
    away: (msg) => `${msg.name} lost their connection; waiting ${msg.grace} s for them to come back`,
    back: (msg) => `${msg.name} is back`,
    ai: (msg) => `${msg.name} (AI) plays seat ${msg.seat + 1} from here on`,
  };

  function onLobby(msg) {
    if (!el.lobby) return; // a spectator's page: the players' waiting room is not its own
    if (msg.state === "cancelled") {
      el.lobbyText.textContent = `The game was called off: ${msg.reason}. Press Play again to wait for another.`;
      el.lobbySeats.replaceChildren();
      el.lobby.hidden = false;
      setState("over", "called off");
      el.newGame.disabled = false;
      s.startPending = false;
      return;
    }
    el.newGame.disabled = true; // Play again is for after the game
    // A room that starts at once announces "starting" with a countdown of 0: still starting.
    const starting = msg.state === "starting";
    const waitingFor = msg.seats - msg.filled;
    el.lobbyText.textContent = starting
      ? `Everyone is here. Starting${msg.countdown ? ` in ${Math.round(msg.countdown)} s` : ""}…`
      : `Waiting for ${waitingFor === 1 ? "another player" : `${waitingFor} more players`}… ` +
        `(${msg.filled} of ${msg.seats} seats taken)`;
    const items = (msg.who || []).map((seat) => {
      const item = document.createElement("li");
      const who = seat.kind === "open" ? "open" : seat.kind === "ai" ? `${seat.name} (AI)`
        : seat.kind === "agent" ? `${seat.name} (an agent)`
        : seat.seat === s.seat ? `you (${seat.name})` : seat.name;
      item.textContent = `Seat ${seat.seat + 1}${seat.role ? `, ${seat.role}` : ""}: ${who}`;
      if (seat.seat === s.seat) item.classList.add("mine");
      return item;
    });
    el.lobbySeats.replaceChildren(...items);
    el.lobby.hidden = false;
    setState(starting ? "starting" : "waiting", starting ? "get ready" : "waiting for players");
  }

  /** News of a seat mid-game: its player went away (the game pauses), came back, or an AI
   * took their seat (the game goes on once nobody is away). */
  function onSeatState(msg) {
    if (msg.state === "away") s.away.set(msg.seat, msg);
    else s.away.delete(msg.seat);
    showAway();
    // Our own return was said already ("Reconnected"): not "<our name> is back".
    if (msg.state === "away" || (msg.state === "back" && msg.seat === s.seat)) return;
    const say = SEAT_STATE[msg.state];
    if (say) showNotice(say(msg));
  }

  /**
   * The game stands still while a player is away (the server waits for them to reconnect):
   * the state says paused and the stage says why, until they are back or an AI has the seat.
   */
  function showAway() {
    if (s.away.size > 0 && ["playing", "watching", "paused"].includes(s.state)) {
      const why = [...s.away.values()].map((msg) => SEAT_STATE.away(msg)).join(". ");
      setState("paused", "paused");
      el.beginText.textContent = `Paused: ${why}.`;
      el.beginButton.hidden = true;
      el.countdown.hidden = true;
      el.begin.hidden = false;
    } else if (s.away.size === 0 && s.state === "paused") {
      el.begin.hidden = true;
      setState(WATCH ? "watching" : "playing");
    }
  }

  function onSeat(msg) {
    s.seat = msg.seat;
    s.gameKeys = new Set(msg.keys || []);
    if (el.seatInfo) {
      // The catalogue's instructions name the seat themselves ("You are the green paddle…").
      const how = msg.instructions || "";
      const who = `You are ${msg.role || `player ${msg.seat + 1}`}.`;
      el.seatInfo.textContent = how.startsWith("You are") ? how : `${who} ${how}`.trim();
      el.seatInfo.hidden = false;
    }
  }

  /** The tab is hidden: a real-time game stops, so the player misses nothing. */
  function onHidden() {
    releaseAllKeys();
    if (!s.pausesWhenHidden) return;
    if (s.state === "playing") {
      send({ type: "pause" });
      standBy(true);
    } else if (s.state === "countdown") {
      standBy(s.steps > 0); // not begun yet, or paused before: wait for the player again
    }
  }

  function startPinging() {
    stopPinging();
    const ping = () => send({ type: "ping", t: performance.now() });
    ping();
    s.pingTimer = setInterval(ping, PING_EVERY_MS);
  }

  function stopPinging() {
    clearInterval(s.pingTimer);
    s.pingTimer = null;
  }

  // --- the ordered decode queue --------------------------------------------------------------

  function enqueueFrame(data) {
    let header;
    try {
      header = Frames.parseHeader(data);
    } catch (err) {
      console.warn(err.message);
      s.decodeErrors++;
      requestKeyframe();
      return;
    }
    enqueue({ kind: "frame", header, data });
    shedBacklog();
  }

  function enqueue(item) {
    s.queue.push(item);
    drain();
  }

  async function drain() {
    if (s.draining) return;
    s.draining = true;
    try {
      while (s.queue.length > 0) {
        const item = s.queue.shift();
        if (item.kind === "frame") {
          await handleFrame(item.header, item.data);
        } else {
          try {
            handleEvent(item.msg);
          } catch (err) {
            console.warn(`Ignoring a bad ${item.msg.type} message:`, err.message);
          }
        }
      }
    } finally {
      s.draining = false;
    }
  }

  /** When decoding falls behind, skip to the newest picture instead of replaying the past. */
  function shedBacklog() {
    const isFrame = (item) => item.kind === "frame";
    if (s.queue.filter(isFrame).length <= MAX_BACKLOG) return;

    // A queued keyframe makes every frame queued before it pointless.
    let lastKeyframe = -1;
    for (let i = s.queue.length - 1; i >= 0; i--) {
      const item = s.queue[i];
      if (isFrame(item) && item.header.kind === Frames.KIND_KEYFRAME) {
        lastKeyframe = i;
        break;
      }
    }
    let dropped = dropFromQueue((item, i) => isFrame(item) && i < lastKeyframe);

    // Still behind: drop the queued deltas too and ask for a fresh keyframe.
    if (s.queue.filter(isFrame).length > MAX_BACKLOG) {
      dropped = dropFromQueue((item) => isFrame(item) && item.header.kind === Frames.KIND_DELTA);
      requestKeyframe();
    }
    if (dropped.length > 0) console.debug(`Decoding fell behind; skipped ${dropped.length}.`);
  }

  /** Remove queued items matching `test`; episode events always stay. */
  function dropFromQueue(test) {
    const dropped = [];
    s.queue = s.queue.filter((item, i) => {
      if (!test(item, i)) return true;
      dropped.push(item);
      return false;
    });
    for (const item of dropped) consumed(item.header.frame);
    s.skipped += dropped.length;
    return dropped;
  }

  async function handleFrame(header, data) {
    const isKeyframe = header.kind === Frames.KIND_KEYFRAME;
    if (!isKeyframe && header.baseFrame !== s.heldFrame) {
      // We hold another picture than this delta was made against (frames were skipped).
      s.skipped++;
      showHeader(header);
      consumed(header.frame);
      requestKeyframe();
      return;
    }

    let pixels;
    try {
      pixels = await Frames.decodePayload(data, header);
      if (isKeyframe) {
        s.held = pixels;
      } else {
        Frames.applyDelta(s.held, pixels);
      }
    } catch (err) {
      console.warn(err.message);
      s.decodeErrors++;
      s.held = null;
      s.heldFrame = null;
      consumed(header.frame);
      requestKeyframe();
      return;
    }

    s.heldFrame = header.frame;
    if (isKeyframe) {
      s.keyframes++;
      s.keyframeRequestedAt = null;
    } else {
      s.deltas++;
    }
    draw(header);
    showHeader(header);
    consumed(header.frame, { ackNow: isKeyframe });
  }

  function handleEvent(msg) {
    if (msg.type === "palette") {
      s.palette ??= new Uint32Array(256);
      Frames.applyPaletteEntries(s.palette, msg.entries);
    } else if (msg.type === "episode") {
      s.episode = msg.episode;
      s.played.add(msg.episode);
      s.startPending = false;
      if (msg.palette) s.palette = Frames.paletteFromBase64(msg.palette);
      if (msg.width > 0 && msg.height > 0) ensureImage(msg.width, msg.height);
      // Frame numbers start again at 0, with a keyframe.
      s.held = null;
      s.heldFrame = null;
      s.newestFrame = null;
      s.framesSinceAck = 0;
      s.keyframeRequestedAt = null;
      s.pendingInputs.clear();
      s.sawLives = false;
      s.steps = msg.resumed ? msg.steps || 0 : 0;
      s.points = msg.resumed && Array.isArray(msg.points) ? msg.points.map(Number) : [0, 0];
      s.seatScores = null; // a spectator's come after the episode
      s.away.clear(); // who is away now comes after the episode, for a page arriving mid-pause
      s.moves = null;
      s.bestMoves = null;
      if (el.moves) show(el.moves, "0");
      el.summary.hidden = true;
      forgetEpisode(); // saved again only if this socket drops
      if (MATCH || WATCH) {
        // A game of several players starts for everyone at once, after the waiting room's
        // countdown; a spectator never waits for anybody (and its page has no waiting room).
        if (el.lobby) el.lobby.hidden = true;
        if (MATCH) el.newGame.disabled = true; // Play again is for after the game (and resumed)
        setState(WATCH ? "watching" : "playing", WATCH ? "watching" : "playing");
        if (msg.resumed && MATCH) showNotice("Reconnected: the game goes on.");
      } else if (msg.resumed && !msg.paused) {
        setState("playing");
        showNotice("Reconnected: the game goes on where it paused.");
      } else {
        standBy(Boolean(msg.resumed) && s.steps > 0);
      }
      // Keys already held when the episode began count from its first step.
      if (s.heldKeys.size > 0) sendInput(performance.now());
    } else if (msg.type === "points") {
      s.points = msg.points.map(Number);
    } else if (msg.type === "scores") {
      showSeatScores(msg);
    } else if (msg.type === "seat") {
      onSeatState(msg);
    } else if (msg.type === "turn") {
      onTurn(msg.info || {});
    } else if (msg.type === "episode_end") {
      if (s.startPending && msg.reason === "restarted") {
        return; // the end of the game our own New game replaced; the new one is on its way
      }
      forgetEpisode();
      s.away.clear();
      if (MATCH) el.newGame.disabled = false; // Play again: a new waiting room
      // Ended while it waited for the player: the server gave up on an idle tab. (A game of
      // several players that ends while paused ended for a player who did not come back.)
      const waited = !MATCH && !WATCH && (s.state === "standby" || s.state === "paused");
      cancelCountdown();
      setState("over", OVER_STATE[msg.reason] || "game over");
      el.summary.textContent = waited
        ? "The game waited a long time for you, so it was ended. Press New game to play."
        : summaryText(msg);
      el.summary.hidden = false; // the game-over screen is up: keys are the page's again
      el.newGame.focus({ preventScroll: true });
      if (AUTOSTART > 0 && !waited && root.dataset.autostart) {
        el.summary.textContent += ` The next game starts in ${AUTOSTART} s.`;
        clearTimeout(s.autoTimer);
        // A page that hosts the game may stop the next one (a study's block that is done):
        // it is asked as the game ends, and its answer is awaited with the countdown.
        const gate = typeof root.autostartGate === "function" ? root.autostartGate() : Promise.resolve(true);
        s.autoTimer = setTimeout(async () => {
          const go = await gate.catch(() => true);
          if (!go || !root.dataset.autostart || s.state !== "over") return;
          s.autoBegin = true; // its countdown starts by itself too
          startGame();
        }, AUTOSTART * 1000);
      }
    }
  }

  // What the state line says when an episode ends, in plain words.
  const OVER_STATE = {
    terminated: "game over",
    truncated: "time's up",
    abandoned: "ended",
    restarted: "ended",
    error: "stopped",
  };

  /** The end of the game as a sentence: the score as the screen shows it, and why it ended. */
  function summaryText(msg) {
    const steps = `${msg.steps} steps`;
    if (s.moves !== null && s.bestMoves !== null && msg.reason === "terminated") {
      return `Solved in ${s.moves} moves (best possible ${s.bestMoves}).`;
    }
    const score = s.seatScores
      ? `Final score ${seatScoresText()}`
      : TWO_SIDED
        ? `Final score ${formatScore(s.points[0])} : ${formatScore(s.points[1])} ` +
          `(return ${formatScore(msg.score)})`
        : `Final score ${formatScore(msg.score)}`;
    const why = {
      terminated: "Game over",
      truncated: "Time's up: the game stopped at its step limit",
      abandoned: "This game was ended",
      restarted: "This game was ended",
      error: "The game's emulator stopped, so this game ended (what you played is saved)",
    }[msg.reason] || "Game over";
    const moves = s.moves !== null ? `, ${s.moves} moves` : "";
    return `${why}. ${score} after ${steps}${moves}.`;
  }

  /** A spectator of a game of several seats: every seat's score, not only the first seat's. */
  function showSeatScores(msg) {
    s.seatScores = { returns: msg.returns.map(Number), points: msg.points.map(Number) };
    for (const element of el.seatScores) {
      const seat = Number(element.dataset.seatScore);
      const ret = s.seatScores.returns[seat] ?? 0;
      // A two-sided game's screen counts points won; its return (won minus lost) on hover.
      show(element, formatScore(TWO_SIDED ? s.seatScores.points[seat] ?? 0 : ret));
      if (TWO_SIDED) element.title = `Player ${seat + 1}'s points (return ${formatScore(ret)})`;
    }
  }

  /** "player 1 3, player 2 5": each seat's score as the spectator's page shows it. */
  function seatScoresText() {
    const figures = TWO_SIDED ? s.seatScores.points : s.seatScores.returns;
    return figures.map((figure, seat) => `player ${seat + 1} ${formatScore(figure)}`).join(", ");
  }

  /** A turn-based game's step: count the moves, say when one was not allowed. */
  function onTurn(info) {
    if (typeof info.moves === "number") {
      s.moves = info.moves;
      if (el.moves) show(el.moves, String(info.moves));
    }
    if (typeof info.best_moves === "number") s.bestMoves = info.best_moves;
    if (info.illegal === true) showError("That move is not allowed, so nothing changed.");
  }

  /** A frame was decoded or skipped: acknowledge every ack_every of them, and every keyframe. */
  function consumed(frame, { ackNow = false } = {}) {
    if (s.newestFrame === null || frame > s.newestFrame) s.newestFrame = frame;
    s.framesSinceAck++;
    if (ackNow || s.framesSinceAck >= s.ackEvery) sendAck();
  }

  function sendAck() {
    // After `start` the server counts frames from 0 again: an ack for the old episode's frames
    // arriving after it would acknowledge "a frame not yet sent".
    if (s.newestFrame === null || s.startPending) return;
    send({ type: "ack", frame: s.newestFrame });
    s.framesSinceAck = 0;
  }

  function requestKeyframe() {
    const now = performance.now();
    if (s.keyframeRequestedAt !== null && now - s.keyframeRequestedAt < KEYFRAME_RETRY_MS) return;
    s.keyframeRequestedAt = now;
    s.keyframeRequests++;
    send({ type: "keyframe" });
    // The server sends at most `window` frames past our last ack. Acknowledge what we skipped
    // too, or a server that is already at the end of its window would never send the keyframe.
    sendAck();
  }

  // --- drawing and the status bar ------------------------------------------------------------

  /** Size the canvas's bitmap to the game; its on-screen size is set by fitCanvas. */
  function ensureImage(width, height) {
    if (s.image && s.image.width === width && s.image.height === height) return;
    el.screen.width = width;
    el.screen.height = height;
    s.image = ctx.createImageData(width, height);
    s.image32 = new Uint32Array(s.image.data.buffer);
    fitCanvas();
  }

  /**
   * Scale the canvas by the largest whole factor that fits the viewport: crisp, even pixels.
   * On a narrow screen (a phone) it fills the screen's width instead, whatever the factor.
   */
  function fitCanvas() {
    const { width, height } = el.screen;
    const top = el.stage.getBoundingClientRect().top + window.scrollY;
    const roomX = el.stage.clientWidth;
    const roomY = window.innerHeight - top - 16;
    let scale = Math.max(1, Math.floor(Math.min(roomX / width, roomY / height)));
    if (TOUCH_ONLY || roomX < 2 * width || window.innerWidth < 700) {
      // Below the page's own controls there is room to scroll; keep the whole screen in view.
      scale = Math.min(roomX / width, (window.innerHeight * 0.8) / height);
    }
    el.screen.style.width = `${width * scale}px`;
    el.screen.style.height = `${height * scale}px`;
    root.dataset.scale = String(scale);
    if (REGIONS.length) showBoardCursor();
  }

  function draw(header) {
    ensureImage(header.width, header.height);
    if (header.pixelFormat === Frames.PIXELS_INDEXED && !s.palette) {
      s.palette = Frames.greyPalette();
    }
    Frames.toRgba(s.held, header.pixelFormat, s.image32, s.palette);
    ctx.putImageData(s.image, 0, 0);

    const now = performance.now();
    s.framesDrawn++;
    s.fpsCount++;
    s.lastDrawnFrame = header.frame;
    s.lastDrawnAt = now;
    measureLatency(header.inputSeq, now);
  }

  /** The first frame whose input seq reaches an input's seq is the first to show that input. */
  function measureLatency(inputSeq, now) {
    let tKey = null;
    for (const [seq, t] of s.pendingInputs) {
      if (seq > inputSeq) break; // the map is in seq order
      tKey = t;
      s.pendingInputs.delete(seq);
    }
    if (tKey === null) return;
    s.latencyMs = now - tKey;
    if (el.latency) show(el.latency, String(Math.round(s.latencyMs)));
  }

  /** Score, lives and the end of the episode, which every frame's header carries. */
  function showHeader(header) {
    s.steps = header.frame;
    // A spectator of several seats has no one score to show: `scores` messages give each seat's.
    if (el.score) showScore(header.score);
    if (header.lives !== 0) s.sawLives = true;
    if (el.lives) show(el.lives, s.sawLives ? String(header.lives) : "–");
    const reason = Frames.endReason(header.flags);
    // The game-over screen (episode_end's summary) follows; keys stay captured until then.
    if (reason && s.state === "playing") setState("over", OVER_STATE[reason] || "game over");
  }

  /** The score as the game's screen shows it: a two-sided game's both sides, and its return. */
  function showScore(score) {
    if (TWO_SIDED) {
      show(el.score, `${formatScore(s.points[0])} : ${formatScore(s.points[1])}`);
      show(el.ret, formatScore(score));
    } else {
      show(el.score, formatScore(score));
    }
  }

  function formatScore(score) {
    return Number.isInteger(score) ? String(score) : String(Math.round(score * 100) / 100);
  }

  function updateFps() {
    if (!el.fps) return;
    const now = performance.now();
    const fps = (s.fpsCount * 1000) / (now - s.fpsSince);
    // Frames come only while the game is played: before it begins a rate would mean nothing.
    show(el.fps, s.state === "playing" ? String(Math.round(fps)) : "–");
    s.fpsCount = 0;
    s.fpsSince = now;
  }

  function show(element, text) {
    if (s.shown[element.id] === text) return;
    s.shown[element.id] = text;
    element.textContent = text;
  }

  function setState(state, text = state) {
    s.state = state;
    el.state.dataset.state = state;
    root.dataset.state = state;
    show(el.state, text);
    if (REGIONS.length) showBoardCursor(); // shown while a game is up
  }

  /** News that is not a fault (a reconnect, a partner away or back): the same line, not red. */
  function showNotice(message) {
    showError(message, { notice: true });
  }

  function showError(message, { sticky = false, notice = false } = {}) {
    clearTimeout(s.errorTimer);
    el.error.classList.toggle("notice", notice);
    el.error.textContent = message;
    if (sticky) return;
    s.errorTimer = setTimeout(() => {
      el.error.textContent = "";
    }, ERROR_SHOWN_MS);
  }

  // --- keyboard ------------------------------------------------------------------------------

  /** Keys typed into a form field are not the game's. */
  function isTyping(target) {
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || target.matches("input, textarea, select"))
    );
  }

  /** The event's time on the performance.now() clock, where the browser gives it. */
  function keyTime(event) {
    const now = performance.now();
    return event.timeStamp > 0 && event.timeStamp <= now ? event.timeStamp : now;
  }

  /** An episode is up on the page: waiting for the player, counting down, played or paused. */
  function inGame() {
    return ["standby", "countdown", "playing", "paused"].includes(s.state);
  }

  /** The game's keys belong to the game from its first frame until the game-over screen. */
  function capturing() {
    return inGame() || (s.state === "over" && el.summary.hidden);
  }

  /** Input is sent while the game can use it: held during the countdown, or in play. */
  function sending() {
    // A game of several players paused for someone else takes the keys held when it goes on.
    return !WATCH && (s.state === "playing" || s.state === "countdown" || (MATCH && s.state === "paused"));
  }

  function onKeyDown(event) {
    if (isTyping(event.target)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return; // leave browser shortcuts alone
    if (REGIONS.length && onBoardKey(event)) return;
    const waitsForUs = !MATCH && !WATCH && (s.state === "standby" || s.state === "paused");
    if (waitsForUs && !NOT_ANY_KEY.has(event.code)) {
      // Any key begins; Space and Enter must not also press the button under the focus.
      event.preventDefault();
      startCountdown();
    }
    if (!s.gameKeys.has(event.code)) return;
    // While the game is up, arrows must not scroll and Space must not press a focused button
    // (not even in the moment between the last frame and the game-over screen). Between
    // games they keep their usual meaning, so Space or Enter on New game starts the next one.
    const captured = capturing();
    if (captured) event.preventDefault();
    pressKey(event.code, keyTime(event), captured);
  }

  function pressKey(code, tKey, captured = true) {
    if (s.heldKeys.has(code)) return; // a key's auto-repeat, or a second finger on a button
    s.heldKeys.add(code);
    if (captured) s.capturedKeys.add(code);
    if (sending()) sendInput(tKey);
  }

  function onKeyUp(event) {
    if (s.capturedKeys.has(event.code)) event.preventDefault();
    releaseKey(event.code, keyTime(event));
  }

  function releaseKey(code, tKey) {
    if (!s.heldKeys.has(code)) return;
    s.heldKeys.delete(code);
    s.capturedKeys.delete(code);
    if (sending()) sendInput(tKey);
  }

  /** Focus left the page: the keyups will never come, so let go of everything. */
  function releaseAllKeys() {
    if (s.heldKeys.size === 0) return;
    s.heldKeys.clear();
    s.capturedKeys.clear();
    if (sending()) sendInput(performance.now());
  }

  function sendInput(tKey) {
    const seq = ++s.seq;
    const msg = {
      type: "input",
      seq,
      keys: [...s.heldKeys].slice(0, MAX_KEYS),
      frame: s.lastDrawnFrame ?? 0,
      t_shown: s.lastDrawnAt,
      t_key: tKey,
    };
    // Naming the episode keeps input meant for one game from steering the next.
    if (s.episode) msg.episode = s.episode;
    send(msg);
    s.pendingInputs.set(seq, tKey);
    if (s.pendingInputs.size > MAX_PENDING_INPUTS) {
      s.pendingInputs.delete(s.pendingInputs.keys().next().value);
    }
  }

  // --- board games: moves by click, or by a cursor steered with the arrows -------------------

  const BOARD_STEPS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  const TAP_MS = 60; // a click holds its move's key this long: a press, then a release

  /** A move clicked or chosen with Enter: its key pressed and let go, as a keyboard would. */
  function playRegion(index) {
    if (!sending() || index < 0 || index >= REGIONS.length) return;
    const code = REGIONS[index][4];
    pressKey(code, performance.now());
    setTimeout(() => releaseKey(code, performance.now()), TAP_MS);
  }

  function regionCentre(region) {
    return [region[0] + region[2] / 2, region[1] + region[3] / 2];
  }

  /** The region nearest the cursor's in direction (dx, dy), favouring those straight ahead. */
  function nextRegion(dx, dy) {
    const [x, y] = regionCentre(REGIONS[board.cursor]);
    let best = board.cursor;
    let bestCost = Infinity;
    REGIONS.forEach((region, index) => {
      const [cx, cy] = regionCentre(region);
      const ahead = (cx - x) * dx + (cy - y) * dy;
      if (index === board.cursor || ahead <= 0) return;
      const aside = Math.abs((cx - x) * dy) + Math.abs((cy - y) * dx);
      const cost = ahead + 2 * aside;
      if (cost < bestCost) {
        bestCost = cost;
        best = index;
      }
    });
    return best;
  }

  /** Arrows move the cursor, Enter or Space plays the move under it; true when handled. */
  function onBoardKey(event) {
    if (!capturing()) return false;
    const step = BOARD_STEPS[event.code];
    if (step) {
      event.preventDefault();
      board.cursor = nextRegion(...step);
      showBoardCursor();
      return true;
    }
    if (event.code === "Enter" || event.code === "Space") {
      event.preventDefault();
      if (!event.repeat) playRegion(board.cursor);
      return true;
    }
    return false;
  }

  /** The cursor's outline over the canvas, in the canvas's on-screen pixels. */
  function showBoardCursor() {
    if (!el.boardCursor || !REGIONS.length) return;
    const scale = el.screen.clientWidth / el.screen.width;
    const canvas = el.screen.getBoundingClientRect();
    const stage = el.stage.getBoundingClientRect();
    const [left, top, width, height] = REGIONS[board.cursor];
    Object.assign(el.boardCursor.style, {
      left: `${canvas.left - stage.left + left * scale}px`,
      top: `${canvas.top - stage.top + top * scale}px`,
      width: `${width * scale}px`,
      height: `${height * scale}px`,
    });
    el.boardCursor.hidden = !inGame();
  }

  /** The region under a click on the canvas, or -1. */
  function regionAt(event) {
    const rect = el.screen.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * el.screen.width;
    const y = ((event.clientY - rect.top) / rect.height) * el.screen.height;
    return REGIONS.findIndex(([l, t, w, h]) => x >= l && x < l + w && y >= t && y < t + h);
  }

  // --- wiring --------------------------------------------------------------------------------

  el.newGame.addEventListener("click", () => {
    startGame();
    // Keep the keys on the game, not on the button (Space would press it again).
    el.screen.focus({ preventScroll: true });
  });
  el.reconnect.addEventListener("click", () => location.reload());
  if (el.leave) {
    el.leave.addEventListener("click", () => {
      send({ type: "leave" });
      el.lobby.hidden = true;
      el.newGame.disabled = false;
      if (el.seatInfo) el.seatInfo.hidden = true; // the seat is not ours any more
      setState("over", "left");
      el.summary.textContent = "You left the waiting room. Press Play again to wait for a game.";
      el.summary.hidden = false;
    });
  }
  el.beginButton.addEventListener("click", startCountdown);
  if (el.pad && TOUCH_ONLY) {
    // On-screen buttons hold their key while a finger is on them; several fingers, several keys.
    el.pad.hidden = false;
    for (const button of el.pad.querySelectorAll("[data-code]")) {
      const code = button.dataset.code;
      const up = (event) => releaseKey(code, keyTime(event));
      button.addEventListener("pointerdown", (event) => {
        event.preventDefault(); // no focus change, no text selection, no emulated mouse
        try {
          button.setPointerCapture(event.pointerId); // the finger may slide off and still hold
        } catch {
          // not a live pointer (a synthetic event): the button's own pointerup releases it
        }
        if (s.state === "standby" || s.state === "paused") startCountdown();
        pressKey(code, keyTime(event));
      });
      button.addEventListener("pointerup", up);
      button.addEventListener("pointercancel", up);
      button.addEventListener("lostpointercapture", up);
      button.addEventListener("contextmenu", (event) => event.preventDefault());
    }
  }

  if (REGIONS.length) {
    el.screen.addEventListener("click", (event) => {
      const index = regionAt(event);
      if (index < 0) return;
      board.cursor = index;
      showBoardCursor();
      playRegion(index);
    });
  }

  window.addEventListener("keydown", onKeyDown);
  window.addEventListener("keyup", onKeyUp);
  window.addEventListener("blur", releaseAllKeys);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") onHidden();
  });
  window.addEventListener("resize", fitCanvas);
  window.addEventListener("pagehide", () => {
    // A reload comes back to the same game, paused on the server meanwhile.
    saveEpisode();
    s.unloading = true;
    if (s.ws) s.ws.close(1000);
  });
  window.addEventListener("pageshow", (event) => {
    // Back to a page restored from the back-forward cache: its socket is gone.
    if (event.persisted) location.reload();
  });
  setInterval(updateFps, 1000);

  fitCanvas();
  connect();
})();
