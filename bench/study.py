"""Simulated participants through a whole study, beside a plain Django page of the same size.

A study like a real one (consent, instructions, a questionnaire of three questions, a game
block of one short game of Pong, a randomised pair of pages, the completion code) is set up on
a stack of two web processes, a recording worker and a verifier. ``--participants`` browsers of
their own (a cookie jar each), ``--concurrency`` at a time, each arriving from a Prolific link,
walk it as a person does: every page fetched, every form posted, the game played over the real
socket (started, begun, its frames acknowledged) until it ends, the block's progress polled
until it lets them continue. Right after each study page, the same browser fetches a plain
Django page padded to that page's size (``bench/study_urls.py``: its session, user and the one
row it shows read, in the study pages' base template), so both are timed side by side under
the same load.

Reported: pages per second (study requests, all of them: a form posted and the page it
redirects to count as one), p50/p99 of a step's page against the plain page of its size beside
it, the p99 of every request, and whether every participant's record is complete: completed
with a code, its answers, a visit finished for every step, and the block's episode stored,
finalised and verified.

`python -m bench study --participants 200 --concurrency 16`
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any

from websockets.sync.client import connect

from play.protocol import FRAME_HEADER

from .stack import Stack, running_stack

SLUG = "bench-study"
SETUP = """
from games.models import Game
from studies.models import Question, Step, Study
game = Game.objects.get(slug="pong")
Game.objects.filter(pk=game.pk).update(max_steps=60)  # one second of Pong: a short block
study = Study.objects.create(slug="bench-study", title="A bench study", status="open",
    completion_redirect_url="https://app.prolific.com/submissions/complete?cc={code}")
Step.objects.create(study=study, order=0, kind="consent", title="Consent", body="We record.",
    consent_version="1", consent_items="I am 18 or over\\nI agree to take part")
Step.objects.create(study=study, order=1, kind="page", title="Instructions", body="Play **Pong**.")
survey = Step.objects.create(study=study, order=2, kind="questionnaire", title="About you")
Question.objects.create(step=survey, order=0, kind="number", text="Age?", min_value=18,
    max_value=99)
Question.objects.create(step=survey, order=1, kind="likert", text="Games?",
    choices="No\\nSome\\nLots")
Question.objects.create(step=survey, order=2, kind="short", text="Anything else?", required=False)
Step.objects.create(study=study, order=3, kind="game", title="Play", game=game, episodes=1,
    countdown_seconds=1)
pair = Step.objects.create(study=study, order=4, kind="random", title="Pair")
Step.objects.create(study=study, parent=pair, order=0, kind="page", title="A")
Step.objects.create(study=study, parent=pair, order=1, kind="page", title="B")
"""
CHECK = """
import json
from recording.models import Episode
from studies.models import Participant
rows = []
for p in Participant.objects.filter(study__slug="bench-study").prefetch_related("block_episodes"):
    episodes = Episode.objects.filter(pk__in=[b.episode_id for b in p.block_episodes.all()])
    rows.append({
        "completed": p.state == "completed" and bool(p.completion_code),
        "answers": p.answers.count(),
        "visits": p.visits.filter(finished_at__isnull=False).count(),
        "plan": len(p.plan),
        "episodes": [[e.status, e.verification, e.steps] for e in episodes],
    })
print(json.dumps(rows))
"""
FIELDS = re.compile(r'name="(position|tab)" value="([^"]*)"')


@dataclass
class Walk:
    study_ms: list[float] = field(default_factory=list)  # every request, a POST with its redirect
    page_ms: list[float] = field(default_factory=list)  # a step's page (GET), as the plain one
    plain_ms: list[float] = field(default_factory=list)
    by_page: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (study, plain)
    errors: list[str] = field(default_factory=list)


class Browser:
    """One participant's browser: its cookies, and every request timed."""

    def __init__(self, url: str, walk: Walk) -> None:
        self.url = url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.walk = walk

    def request(self, path: str, data: dict[str, Any] | None = None, *, plain: bool = False) -> str:
        body = None
        headers = {"Origin": self.url, "Referer": self.url + "/"}
        if data is not None:
            data = {**data, "csrfmiddlewaretoken": self.cookie("csrftoken")}
            body = urllib.parse.urlencode(data, doseq=True).encode()
            headers["X-CSRFToken"] = self.cookie("csrftoken")
        request = urllib.request.Request(self.url + path, data=body, headers=headers)
        began = time.perf_counter()
        try:
            with self.opener.open(request, timeout=30) as response:
                text = str(response.read().decode())
        except urllib.error.HTTPError as error:
            text = str(error.read().decode())
            title = re.search(r"<title>(.*?)</title>", text, re.S)
            self.walk.errors.append(
                f"{error.code} {path}: {title.group(1).strip() if title else ''}"
            )
        took = (time.perf_counter() - began) * 1000
        (self.walk.plain_ms if plain else self.walk.study_ms).append(took)
        if not plain and data is None and path.endswith("/step/"):
            self.walk.page_ms.append(took)
            # The same browser, a plain page of the same size, right after: side by side.
            self.request(f"/bench/plain/{SLUG}/?bytes={len(text.encode())}", plain=True)
            heading = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)
            name = re.sub(r"<[^>]+>|\s+", " ", heading.group(1)).strip() if heading else "?"
            self.walk.by_page.setdefault(name, []).append((took, self.walk.plain_ms[-1]))
        return text

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def step(self, answers: dict[str, Any] | None = None) -> str:
        page = self.request(f"/s/{SLUG}/step/")
        fields = dict(FIELDS.findall(page))
        return self.request(f"/s/{SLUG}/step/", {**fields, **(answers or {})})

    def play_one_game(self) -> None:
        ws_url = self.url.replace("http://", "ws://") + "/ws/play/pong/"
        headers = {"Cookie": f"sessionid={self.cookie('sessionid')}", "Origin": self.url}
        with connect(ws_url, additional_headers=headers, max_size=None, compression=None) as ws:
            hello = json.loads(ws.recv())
            ack_every = int(hello["ack_every"])
            ws.send('{"type":"start"}')
            frames = 0
            while True:
                message = ws.recv(timeout=30)
                if isinstance(message, str):
                    kind = json.loads(message)["type"]
                    if kind == "episode":
                        ws.send('{"type":"begin"}')
                    elif kind == "episode_end":
                        return
                    continue
                frames += 1
                if frames % ack_every == 0:  # as the browser acknowledges the newest frame
                    number = FRAME_HEADER.unpack_from(message)[5]
                    ws.send(json.dumps({"type": "ack", "frame": number}))


def participant(stack: Stack, index: int, walk: Walk) -> None:
    url = stack.urls[index % len(stack.urls)] if stack.urls else stack.url
    browser = Browser(url, walk)
    browser.request(f"/s/{SLUG}/?PROLIFIC_PID=bench{index:05d}&STUDY_ID=s&SESSION_ID={index}")
    browser.step({"agree0": "on", "agree1": "on", "agree": ""})
    browser.step()  # instructions
    page = browser.request(f"/s/{SLUG}/step/")
    questions = re.findall(r'name="(q\d+)"', page)
    fields = dict(FIELDS.findall(page))
    age, games, _ = sorted(set(questions), key=questions.index)
    browser.request(f"/s/{SLUG}/step/", {**fields, age: str(20 + index % 50), games: "2"})
    page = browser.request(f"/s/{SLUG}/step/")  # the game block
    fields = dict(FIELDS.findall(page))
    browser.play_one_game()
    deadline = time.monotonic() + 60
    progress: dict[str, Any] = {}
    while time.monotonic() < deadline:
        progress = json.loads(browser.request(f"/s/{SLUG}/progress/"))
        if progress.get("can_continue"):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"the block never let them continue: {progress}")
    browser.request(f"/s/{SLUG}/step/", fields)
    browser.step()
    browser.step()
    page = browser.request(f"/s/{SLUG}/step/")  # all done
    browser.request(f"/s/{SLUG}/complete/", dict(FIELDS.findall(page)))


def run(participants: int = 200, concurrency: int = 16) -> dict[str, Any]:
    walk = Walk()
    with running_stack(
        web_processes=2,
        pinned=True,
        prewarm_games="pong",
        extra_env={"DJANGO_SETTINGS_MODULE": "bench.study_settings"},
    ) as stack:
        stack.manage("shell", "-c", SETUP)
        began = time.perf_counter()
        lock = threading.Lock()
        failures: list[str] = []

        def one(index: int) -> None:
            try:
                participant(stack, index, walk)
            except Exception as error:  # counted, and the record check says what is missing
                with lock:
                    failures.append(f"{index}: {type(error).__name__}: {error}"[:300])

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(participants)))
        seconds = time.perf_counter() - began
        rows: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the workers finalise and verify the episodes
            rows = json.loads(stack.manage("shell", "-c", CHECK).strip().splitlines()[-1])
            if all(e[0] != "active" and e[1] != "pending" for r in rows for e in r["episodes"]):
                break
            time.sleep(2)
    complete = [
        r
        for r in rows
        if r["completed"]
        and r["answers"] == 2  # the optional third question is left blank
        and r["visits"] == r["plan"]
        and len(r["episodes"]) >= 1
        and all(e[0] == "complete" and e[1] == "verified" and e[2] > 0 for e in r["episodes"])
    ]
    requests = sorted(walk.study_ms)
    study = sorted(walk.page_ms)
    plain = sorted(walk.plain_ms)

    def p(values: list[float], q: float) -> float:
        return round(values[min(len(values) - 1, int(len(values) * q))], 2) if values else 0.0

    return {
        "participants": participants,
        "concurrency": concurrency,
        "completed": sum(1 for r in rows if r["completed"]),
        "records_complete": len(complete),
        "failures": failures[:10],
        "http_errors": walk.errors[:10],
        "seconds": round(seconds, 1),
        "requests": len(requests),
        "requests_per_second": round(len(requests) / seconds, 1),
        "request_p99_ms": p(requests, 0.99),
        "pages": len(study),
        "pages_per_second": round(len(requests) / seconds, 1),
        "page_p50_ms": p(study, 0.5),
        "page_p99_ms": p(study, 0.99),
        "page_mean_ms": round(statistics.fmean(study), 2) if study else 0.0,
        "plain_page_p50_ms": p(plain, 0.5),
        "plain_page_p99_ms": p(plain, 0.99),
        "plain_page_mean_ms": round(statistics.fmean(plain), 2) if plain else 0.0,
        # Each step's page against the plain page fetched right after it: p50s, and the median
        # of the pairs' ratios (the pairs share the moment's load).
        "by_page": {
            name: {
                "pages": len(pairs),
                "p50_ms": p(sorted(a for a, _ in pairs), 0.5),
                "plain_p50_ms": p(sorted(b for _, b in pairs), 0.5),
                "median_ratio": round(statistics.median(a / b for a, b in pairs if b > 0), 2),
            }
            for name, pairs in walk.by_page.items()
        },
        "median_page_ratio": round(
            statistics.median(a / b for pairs in walk.by_page.values() for a, b in pairs if b > 0),
            2,
        )
        if walk.by_page
        else 0.0,
    }


def render(result: dict[str, Any]) -> str:
    return (
        f"{result['participants']} participants ({result['concurrency']} at a time): "
        f"{result['completed']} completed, {result['records_complete']} records complete; "
        f"{result['requests']} study requests in {result['seconds']} s = "
        f"{result['pages_per_second']} a second; a step's page p50 {result['page_p50_ms']} ms, "
        f"p99 {result['page_p99_ms']} ms; a plain page of the same size p50 "
        f"{result['plain_page_p50_ms']} ms, p99 {result['plain_page_p99_ms']} ms; a step's page "
        f"over the plain page after it: median {result['median_page_ratio']}"
    )
