"""`python -m bench live --sessions N --seconds S --game pong`: one load point, JSON last.

`python -m bench finalise --minutes 10`: finalisation, replay check included, of a long episode.
`python -m bench export`: dataset export speed from stored chunks on one core.
`python -m bench coldstart`: a running game's step intervals during a burst of cold starts.
`python -m bench multiplayer`: two-player Pong steps per CPU second, ours beside PettingZoo's.
`python -m bench policies`: an AI policy's inference latency (Nature-DQN-sized CNN, one core).
`python -m bench live --game pong-2p --sessions N`: two-player Pong, each seat a player
(`--spectators 10` adds staff watching one match from the middle of the window on);
`--game pong --vs-ai`: human-vs-AI Pong against an ONNX policy.
`python -m bench seatcost`: CPU of a seat whose socket is on another process than its match.
`python -m bench relay`: relaying frames against relaying joint actions to a lockstep replica.
`python -m bench agents`: agents stepping Pong through the agent socket, beside OpenEnv's Atari
server: steps per server core-second, step latency, the sessions one web process holds.
`python -m bench arena`: the arena's sandbox: its cost per move against the same agent in-process,
board-game matches per core-minute and a 10-match duel between sandboxed agents, containments.
`python -m bench compare --ref REF`: the single-player live point of REF and of this tree, in turn.
`python -m bench all` (what `make bench` runs) sweeps load points for our design and the
baseline, measures the codec and storage over the catalogue, and writes bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    live = commands.add_parser("live", help="one load point against a freshly started stack")
    live.add_argument("--sessions", type=int, default=10)
    live.add_argument("--seconds", type=float, default=10.0)
    live.add_argument("--game", default="pong")
    live.add_argument("--baseline", action="store_true", help="measure the naive design instead")
    live.add_argument("--warmup", type=float, default=3.0)
    live.add_argument("--workers", type=int, default=1)
    live.add_argument(
        "--web-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="Daphne processes sharing the port (default: one per core, as in production)",
    )
    live.add_argument("--vs-ai", action="store_true", help="Pong against an ONNX policy")
    live.add_argument(
        "--ai-model",
        choices=("nature", "nips", "ram"),
        default="nature",
        help="--vs-ai's model: the 2015 Nature DQN (1.7 M parameters), the 2013 NIPS one "
        "(0.7 M) or an MLP on the RAM (33 K)",
    )
    live.add_argument("--spectators", type=int, default=0, help="staff watching one match")
    live.add_argument(
        "--no-remote-ratio",
        action="store_true",
        help="pong-2p: skip the remote seat's cost (a second stack, about a minute)",
    )
    seatcost = commands.add_parser(
        "seatcost", help="CPU of a seat on another web process than its match, against a local one"
    )
    seatcost.add_argument("--matches", type=int, default=8)
    seatcost.add_argument("--seconds", type=float, default=10.0)
    seatcost.add_argument("--rounds", type=int, default=2)
    relay = commands.add_parser(
        "relay", help="relay frames, or joint actions to a lockstep replica: CPU per step"
    )
    relay.add_argument("--steps", type=int, default=3000)
    relay.add_argument("--rounds", type=int, default=5)
    compare = commands.add_parser(
        "compare", help="the single-player live point of another commit and of this tree"
    )
    compare.add_argument("--ref", default="HEAD~1", help="the commit to compare with")
    compare.add_argument("--sessions", type=int, default=20)
    compare.add_argument("--seconds", type=float, default=10.0)
    compare.add_argument("--rounds", type=int, default=2)
    commands.add_parser("all", help="the whole suite; writes bench/results/latest.json")
    commands.add_parser("codec", help="bytes and time per frame over the catalogue")
    finalise = commands.add_parser(
        "finalise", help="a long episode's end to its replay verdict, and replay speed"
    )
    finalise.add_argument("--minutes", type=float, default=10.0)
    finalise.add_argument(
        "--verify-every", type=int, default=10, help="chunks between incremental passes"
    )
    exporting = commands.add_parser("export", help="dataset export steps/s on one core")
    exporting.add_argument("--minutes", type=float, default=3.0, help="minutes of play to export")
    exporting.add_argument("--episodes", type=int, default=3)
    coldstart = commands.add_parser(
        "coldstart", help="a running game's step intervals during a burst of cold starts"
    )
    coldstart.add_argument("--starts", type=int, default=12)
    coldstart.add_argument("--rounds", type=int, default=2)
    multiplayer = commands.add_parser(
        "multiplayer", help="two-player Pong steps per CPU second, ours beside PettingZoo's"
    )
    multiplayer.add_argument("--steps", type=int, default=5000)
    multiplayer.add_argument("--rounds", type=int, default=5)
    policies = commands.add_parser(
        "policies", help="ONNX inference of a DQN-sized CNN, and an AI seat's CPU a step"
    )
    policies.add_argument("--decisions", type=int, default=2000)
    policies.add_argument("--model", choices=("nature", "nips"), default="nature")
    policies.add_argument("--matches", type=int, default=16, help="AI seats stepped at 60 Hz")
    policies.add_argument("--seconds", type=float, default=3.0, help="per window of seat_cost")
    policies.add_argument("--rounds", type=int, default=2, help="windows of each way")
    study = commands.add_parser("study", help="simulated participants through a whole study")
    study.add_argument("--participants", type=int, default=200)
    study.add_argument("--concurrency", type=int, default=16)
    agents = commands.add_parser(
        "agents", help="agents stepping Pong through the agent socket, beside OpenEnv's server"
    )
    agents.add_argument("--seconds", type=float, default=4.0, help="each window's measured time")
    agents.add_argument("--warmup", type=float, default=1.0, help="before each window")
    agents.add_argument("--rounds", type=int, default=3, help="the headline's windows of each")
    agents.add_argument("--agents", type=int, default=4, help="lean client's sessions on Arcade")
    agents.add_argument("--max-sessions", type=int, default=200, help="the ceiling of the hold")
    agents.add_argument("--hold-rate", type=float, default=2.0, help="each held session's steps/s")
    agents.add_argument(
        "--hold-obs",
        choices=("auto", "rgb", "ram", "grayscale", "palette"),
        default="auto",
        help="held sessions' observations (auto: RGB when binary is served, else RAM)",
    )
    agents.add_argument(
        "--answer-within", type=float, default=1.0, help="seconds a held session's step may take"
    )
    agents.add_argument("--hold", type=float, default=5.0, help="seconds held at the most")
    agents.add_argument("--latency-steps", type=int, default=2000)
    agents.add_argument(
        "--verify-timeout", type=float, default=300.0, help="seconds to wait for the verifier"
    )
    arena = commands.add_parser(
        "arena", help="the arena's sandbox: cost per move and per match, containments"
    )
    arena.add_argument("--moves", type=int, default=3000, help="moves per round, each way")
    arena.add_argument("--rounds", type=int, default=3)
    arena.add_argument("--matches", type=int, default=20, help="matches per game")
    args = parser.parse_args(argv)

    if args.command == "live":
        from .live import run

        result = run(
            sessions=args.sessions,
            seconds=args.seconds,
            game=args.game,
            baseline=args.baseline,
            warmup=args.warmup,
            workers=args.workers,
            web_processes=args.web_processes,
            vs_ai=args.vs_ai,
            ai_model=args.ai_model,
            spectators=args.spectators,
            remote_ratio=not args.no_remote_ratio,
        )
        print(json.dumps(result))
        return 0
    if args.command == "seatcost":
        from .relaycost import seat_costs

        costs = seat_costs(matches=args.matches, seconds=args.seconds, rounds=args.rounds)
        print(json.dumps(costs))
        return 0
    if args.command == "relay":
        from . import relay as relay_bench

        relayed = relay_bench.run(steps=args.steps, rounds=args.rounds)
        print(relay_bench.render(relayed))
        print(json.dumps(relayed))
        return 0
    if args.command == "compare":
        from .compare import compare as compare_refs
        from .compare import render as render_compare

        compared = compare_refs(
            ref=args.ref, sessions=args.sessions, seconds=args.seconds, rounds=args.rounds
        )
        print(render_compare(compared))
        print(json.dumps(compared))
        return 0
    if args.command == "codec":
        from .micro import codec_figures

        print(json.dumps(codec_figures()))
        return 0
    if args.command == "finalise":
        from .finalise import run as run_finalise

        print(json.dumps(run_finalise(minutes=args.minutes, verify_every=args.verify_every)))
        return 0
    if args.command == "export":
        from . import export

        result = export.run(minutes=args.minutes, episodes=args.episodes)
        print(export.render(result))
        print(json.dumps(result))
        return 0
    if args.command == "coldstart":
        from . import coldstart as cold

        results = cold.run(starts=args.starts, rounds=args.rounds)
        print(cold.render(results))
        print(json.dumps(results))
        return 0
    if args.command == "multiplayer":
        from . import multiplayer as multi

        result = multi.run(steps=args.steps, rounds=args.rounds)
        print(multi.render(result))
        print(json.dumps(result))
        return 0
    if args.command == "policies":
        from . import policies as policy_bench

        result = policy_bench.run(
            decisions=args.decisions,
            model_name=args.model,
            matches=args.matches,
            seconds=args.seconds,
            rounds=args.rounds,
        )
        print(policy_bench.render(result))
        print(json.dumps(result))
        return 0
    if args.command == "study":
        from . import study as study_bench

        result = study_bench.run(participants=args.participants, concurrency=args.concurrency)
        print(study_bench.render(result))
        print(json.dumps(result))
        return 0
    if args.command == "agents":
        from . import agents as agents_bench

        result = agents_bench.run(
            seconds=args.seconds,
            warmup=args.warmup,
            rounds=args.rounds,
            agents=args.agents,
            max_sessions=args.max_sessions,
            hold_rate=args.hold_rate,
            hold_obs=args.hold_obs,
            answer_within=args.answer_within,
            hold=args.hold,
            latency_steps=args.latency_steps,
            verify_timeout=args.verify_timeout,
        )
        print(agents_bench.render(result))
        print(json.dumps(result))
        return 0
    if args.command == "arena":
        from . import arena as arena_bench

        result = arena_bench.run(moves=args.moves, rounds=args.rounds, matches=args.matches)
        print(arena_bench.render(result))
        print(json.dumps(result))
        return 0
    from .suite import run_all

    run_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
