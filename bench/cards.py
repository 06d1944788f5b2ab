"""Title cards per second on real talks: today's card backend against card-2, side by side.

Talks come from pyvideo (`../shared/data/pyvideo/talks.jsonl.gz`): a seeded sample with every
Japanese, Korean, Chinese and Russian talk mixed in up to a share, so non-Latin titles and
their fonts are part of the figure. Each talk's cover uses its own tags (free-form and
varied, so the gradient cache hits less often than with the tagger's small vocabulary).

The card-2 path ("before") is the code as it was before this change, loaded from git
(`podium/images/card.py` and `fonts.py` at commit `BEFORE`): a layout from Pillow
measurements of every candidate line, every string rasterised by FreeType per card, and a
lossless PNG. Both paths run in the same process, interleaved round by round on fresh
talks, after a warm-up on other talks (fonts loaded, caches warm, as in a long-lived worker):
a busy machine slows both alike; the ratio is the figure to read.

Each card is timed stage by stage: background (gradient and discs), text layout (measuring,
wrapping, fitting), glyph drawing, encoding, and storage (`store_covers` into a local lake:
the files and one `talk_images` upsert per round).

    .venv/bin/python bench/cards.py [--cards 300] [--rounds 3] [--sheet bench/out/cards]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from podium.images import card  # noqa: E402
from podium.images.base import CoverImage, cover_tags, talk_seed  # noqa: E402
from podium.images.card import CardBackend  # noqa: E402
from podium.images.storage import store_covers  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.models import Talk  # noqa: E402
from podium.sources import load_source  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# main when the title-card speed work began: the card-2 backend.
BEFORE = "9b170c9"
NON_LATIN = {"jpn": 0.08, "kor": 0.08, "zho": 0.03, "rus": 0.06}
STAGES = ("background", "layout", "glyphs", "encode", "storage")


def _pyvideo() -> Path:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "pyvideo" / "talks.jsonl.gz"
        if candidate.is_file():
            return candidate
    raise SystemExit("pyvideo talks not found (../shared/data/pyvideo/talks.jsonl.gz)")


def real_talks(count: int, *, seed: int) -> list[Talk]:
    """`count` pyvideo talks, with non-Latin titles mixed in at the shares of `NON_LATIN`."""
    talks = load_source(_pyvideo()).talks
    rng = random.Random(seed)
    rng.shuffle(talks)
    picked: list[Talk] = []
    for language, share in NON_LATIN.items():
        picked += [t for t in talks if t.language == language][: round(count * share)]
    taken = {t.talk_id for t in picked}
    picked += [t for t in talks if t.talk_id not in taken][: count - len(picked)]
    rng.shuffle(picked)
    return picked


def load_before() -> types.ModuleType:
    """card.py of commit BEFORE, with its own copy of fonts.py (so no cache is shared)."""

    def source(path: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BEFORE}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    fonts = types.ModuleType("card2_fonts")
    sys.modules["card2_fonts"] = fonts  # dataclasses look their module up while defining
    exec(compile(source("podium/images/fonts.py"), "card2_fonts.py", "exec"), fonts.__dict__)
    module = types.ModuleType("card2")
    sys.modules["card2"] = module
    code = source("podium/images/card.py").replace(
        "from podium.images.fonts import", "from card2_fonts import"
    )
    exec(compile(code, "card2.py", "exec"), module.__dict__)
    return module


class Path_:
    """One way of making cards, timed stage by stage."""

    name: str
    media_type: str

    def cards(self, talks: list[Talk], times: dict[str, float]) -> list[CoverImage]:
        raise NotImplementedError


def _timed(times: dict[str, float], stage: str, fn: Callable[[], object]) -> object:
    # CPU seconds of this process (what the stage costs, whatever else the shared machine
    # runs) and wall seconds (what it took here, today), kept side by side.
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    times[stage] += time.process_time() - cpu
    times[f"{stage} wall"] += time.perf_counter() - wall
    return result


def _cover(talk: Talk, data: bytes, media_type: str, model: str, seed: int) -> CoverImage:
    return CoverImage(
        talk_id=talk.talk_id,
        content_hash=talk.content_hash,
        data=data,
        media_type=media_type,
        backend="card",
        model=model,
        seed=seed,
        prompt="",
        negative_prompt="",
        flagged=False,
        width=1200,
        height=630,
    )


class Before(Path_):
    """card-2: background, then layout and drawing interleaved, then its PNG writer."""

    name = "card-2 (before)"
    media_type = "image/png"

    def __init__(self) -> None:
        self.module = load_before()
        self.backend = self.module.CardBackend()
        self._background = self.module._background
        self._times: dict[str, float] = defaultdict(float)

        def timed_background(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            return _timed(self._times, "background", lambda: self._background(*args, **kwargs))

        # render_card looks `_background` up in its module at call time.
        self.module._background = timed_background

    def cards(self, talks: list[Talk], times: dict[str, float]) -> list[CoverImage]:
        self._times = times
        covers = []
        for talk in talks:
            tags = cover_tags(talk, {}, limit=3)
            seed = talk_seed(talk.talk_id, seed_base=0)
            typesetter = self.backend.typesetter(talk.language)
            background = times["background"], times["background wall"]
            image = _timed(
                times,
                "glyphs",
                lambda talk=talk, tags=tags, t=typesetter, seed=seed: self.module.render_card(
                    talk, tags=tags, typesetter=t, seed=seed
                ),
            )
            # Layout and drawing are one pass in card-2: both go under "glyphs", less the
            # background that render_card drew first.
            times["glyphs"] -= times["background"] - background[0]
            times["glyphs wall"] -= times["background wall"] - background[1]
            png = _timed(times, "encode", lambda image=image: self.module.encode_png(image))
            covers.append(_cover(talk, png, self.media_type, "card-2", seed))
        return covers


class Now(Path_):
    """Today's backend, one function per stage."""

    def __init__(self, fmt: card.CardFormat = "jpeg") -> None:
        self.backend = CardBackend(format=fmt)
        self.format = fmt
        self.media_type = card.MEDIA_TYPES[fmt]
        self.name = f"{card.CARD_VERSION} {fmt} (now)"

    def cards(self, talks: list[Talk], times: dict[str, float]) -> list[CoverImage]:
        style = self.backend.style
        covers = []
        for talk in talks:
            tags = cover_tags(talk, {}, limit=3)
            seed = talk_seed(talk.talk_id, seed_base=0)
            typesetter = self.backend.typesetter(talk.language)
            hues = card.card_hues(talk, tags)
            image = _timed(
                times,
                "background",
                lambda hues=hues, seed=seed: card.card_background(style, hues, random.Random(seed)),
            )
            layout = _timed(
                times,
                "layout",
                lambda talk=talk, tags=tags, hues=hues, t=typesetter: card.layout_card(
                    talk, tags=tags, hues=hues, typesetter=t, style=style
                ),
            )
            _timed(
                times,
                "glyphs",
                lambda image=image, layout=layout, t=typesetter: card.draw_layout(
                    image, layout, typesetter=t, style=style
                ),
            )
            data = _timed(
                times,
                "encode",
                lambda image=image: card.encode_card(image, format=self.format, quality=85),
            )
            covers.append(_cover(talk, data, self.media_type, card.CARD_VERSION, seed))
        return covers


# (language, title, speaker, tags) of talks in scripts the pyvideo sample lacks.
SCRIPTS_NOT_IN_PYVIDEO = [
    ("ar", "تعلم الآلة في الإنتاج: دروس من الميدان مع Python", "ليلى", ["python", "ml"]),
    ("hi", "मशीन लर्निंग के साथ डेटा पाइपलाइन", "Asha", ["data"]),
]


def sheet_talks() -> list[Talk]:
    """Twelve talks that stress a card: Latin, Japanese, Korean, Chinese, Russian, the longest
    title, the most tags, many speakers (pyvideo), and Arabic and Hindi (not in pyvideo)."""
    talks = load_source(_pyvideo()).talks
    by_language: dict[str, list[Talk]] = defaultdict(list)
    for talk in talks:
        # Talks tagged with a language but titled in Latin letters show nothing new.
        if talk.language == "eng" or any(ord(c) > 0x400 for c in talk.title):
            by_language[talk.language].append(talk)
    picked = [*by_language["eng"][100:103:2], *by_language["jpn"][:2], *by_language["kor"][:2]]
    picked += [by_language["zho"][0], by_language["rus"][0]]
    picked.append(max(talks, key=lambda t: len(t.title)))
    picked.append(max(talks, key=lambda t: (len(t.tags), len(" ".join(t.tags)))))
    picked.append(max(talks, key=lambda t: len(" · ".join(t.speakers))))
    picked += [
        Talk(talk_id=f"sheet-{lang}", title=title, speakers=[who], tags=tags, language=lang)
        for lang, title, who, tags in SCRIPTS_NOT_IN_PYVIDEO
    ]
    return picked


def contact_sheet(path: Path_, talks: list[Talk], target: Path) -> Path:
    """The talks' cards, decoded from their stored bytes, at half size in a 3-wide grid."""
    import io

    from PIL import Image

    covers = path.cards(talks, defaultdict(float))
    w, h = 600, 315
    rows = (len(covers) + 2) // 3
    sheet = Image.new("RGB", (3 * w + 40, rows * (h + 10) + 10), "white")
    for i, cover in enumerate(covers):
        with Image.open(io.BytesIO(cover.data)) as image:
            thumb = image.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (10 + (i % 3) * (w + 10), 10 + (i // 3) * (h + 10)))
    target.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(target)
    return target


class EncodeThread(CardBackend):
    """Each card encoded on a second thread while the next one is drawn (libjpeg runs
    without the GIL); drawing stays on the calling thread. At most two cards wait."""

    def render(self, talks: list[Talk], *, tags: dict[str, list[str]]) -> list[CoverImage]:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        covers: list[CoverImage] = []
        pending: deque = deque()
        with ThreadPoolExecutor(max_workers=1) as encoder:
            for talk in talks:
                image, seed = self._draw(talk, cover_tags(talk, tags, limit=3), None)
                pending.append((talk, image.size, seed, encoder.submit(self._encode, image)))
                while len(pending) > 2:
                    talk_, size, seed_, future = pending.popleft()
                    covers.append(self._cover(talk_, size, future.result(), seed=seed_))
            for talk_, size, seed_, future in pending:
                covers.append(self._cover(talk_, size, future.result(), seed=seed_))
        return covers


def threads(rounds: list[list[Talk]]) -> None:
    """`CardBackend.render` end to end (JPEG), all on one thread vs encoding on a second one.

    Wall time is what the second thread can win, and only where a second core is free: on a
    machine busy with other work it also wins a larger share of the CPU, so read the CPU
    figure beside it (the same work either way, plus the hand-over).
    """
    backends: dict[str, CardBackend] = {
        "one thread": CardBackend(),
        "encode thread": EncodeThread(),
    }
    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    count = 0
    for r, talks in enumerate(rounds):
        count += len(talks)
        for name in list(backends) if r % 2 == 0 else list(backends)[::-1]:
            started, used = time.perf_counter(), time.process_time()
            covers = backends[name].render(talks, tags={})
            wall[name] += time.perf_counter() - started
            cpu[name] += time.process_time() - used
            assert [c.talk_id for c in covers] == [t.talk_id for t in talks]
    print("CardBackend.render end to end (JPEG, no storage), same talks, interleaved:")
    for name in backends:
        print(
            f"  {name:14s} {count / wall[name]:7.1f} cards/s wall "
            f"{cpu[name] / count * 1000:7.2f} CPU ms/card"
        )
    ratio = wall["one thread"] / wall["encode thread"]
    print(f"  ratio encode thread / one thread (wall): {ratio:.2f}x")


def _card_process(conn, warmup: list[Talk], home: str) -> None:  # noqa: ANN001
    """One process of `across_processes`: a warm backend, then render + store on request."""
    backend = CardBackend()
    backend.render(warmup, tags={})
    conn.send("ready")
    batch = 0
    while (talks := conn.recv()) is not None:
        wall, cpu = time.perf_counter(), time.process_time()
        covers = backend.render(talks, tags={})
        store_covers(lake=Lake(str(Path(home) / f"lake-{batch}")), covers=covers)
        conn.send((len(covers), time.perf_counter() - wall, time.process_time() - cpu))
        batch += 1


def across_processes(warmup: list[Talk], rounds: list[list[Talk]], counts: list[int]) -> None:
    """Cards per second of wall time with the same talks split over 1, 2, ... processes, as the
    backfill's Dask workers split a stage (each its own warm backend and its own share,
    rendered, JPEG-encoded and stored), interleaved round by round."""
    import multiprocessing as mp

    context = mp.get_context("spawn")
    largest = max(counts)
    pipes, procs = [], []
    with tempfile.TemporaryDirectory() as home:
        for p in range(largest):
            ours, theirs = context.Pipe()
            proc = context.Process(
                target=_card_process, args=(theirs, warmup, f"{home}/p{p}"), daemon=True
            )
            proc.start()
            pipes.append(ours)
            procs.append(proc)
        for ours in pipes:
            ours.recv()
        wall: dict[int, float] = defaultdict(float)
        cpu: dict[int, float] = defaultdict(float)
        made: dict[int, int] = defaultdict(int)
        loads = []
        for r, talks in enumerate(rounds):
            for n in counts if r % 2 == 0 else counts[::-1]:
                loads.append(os.getloadavg()[0])
                started = time.perf_counter()
                for p in range(n):
                    pipes[p].send(talks[p::n])
                for p in range(n):
                    done, _, used = pipes[p].recv()
                    made[n] += done
                    cpu[n] += used
                wall[n] += time.perf_counter() - started
        for ours, proc in zip(pipes, procs, strict=True):
            ours.send(None)
            proc.join(timeout=10)
    print(
        f"CardBackend.render + store_covers (JPEG) split over processes, same talks, "
        f"interleaved (load avg {min(loads):.1f}-{max(loads):.1f}, "
        f"{os.cpu_count()} cores):"
    )
    for n in counts:
        print(
            f"  {n} process{'es' if n > 1 else '  '} {made[n] / wall[n]:7.1f} cards/s wall "
            f"{cpu[n] / made[n] * 1000:7.2f} CPU ms/card"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=300, help="talks per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", default="jpeg,png,webp", help="encodings of today's path")
    parser.add_argument(
        "--no-threads", action="store_true", help="skip the serial vs encode-thread comparison"
    )
    parser.add_argument("--sheet", type=Path, help="write contact sheets (PNG) here and stop")
    parser.add_argument(
        "--processes",
        default="",
        help="e.g. 1,2: only time render + store split over that many processes (wall), and stop",
    )
    args = parser.parse_args(argv)
    if args.sheet:
        talks = sheet_talks()
        for path in [Before(), *(Now(f) for f in args.formats.split(","))]:  # type: ignore[arg-type]
            slug = path.name.split(" (")[0].replace(" ", "-")
            print(contact_sheet(path, talks, args.sheet / f"{slug}.png"))
            covers = path.cards(talks, defaultdict(float))
            for i, cover in enumerate(covers):  # full size, to zoom in
                (args.sheet / f"{slug}-{i:02d}.{cover.extension}").write_bytes(cover.data)
        return 0

    pool = real_talks(args.cards * args.rounds + 100, seed=16)
    warmup, rounds = (
        pool[:100],
        [pool[100 + r * args.cards : 100 + (r + 1) * args.cards] for r in range(args.rounds)],
    )
    if args.processes:
        across_processes(warmup, rounds, [int(n) for n in args.processes.split(",")])
        return 0
    paths: list[Path_] = [Before(), *(Now(f) for f in args.formats.split(","))]  # type: ignore[arg-type]
    for path in paths:
        path.cards(warmup, defaultdict(float))

    times = {p.name: defaultdict(float) for p in paths}
    sizes: dict[str, list[int]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    with tempfile.TemporaryDirectory() as home:
        for r, talks in enumerate(rounds):
            order = paths if r % 2 == 0 else paths[::-1]
            for path in order:
                lake = Lake(str(Path(home) / f"lake-{r}-{paths.index(path)}"))
                covers = path.cards(talks, times[path.name])
                _timed(
                    times[path.name],
                    "storage",
                    lambda lake=lake, covers=covers: store_covers(lake=lake, covers=covers),
                )
                sizes[path.name] += [len(c.data) for c in covers]
                counts[path.name] += len(covers)
    languages = sorted({t.language for t in pool[100:]})
    print(
        f"{args.rounds} rounds x {args.cards} pyvideo talks (1200x630; languages: "
        f"{', '.join(languages)}), interleaved.\nCPU ms per card by stage; cards/s from CPU "
        "time (one core's worth) and from wall time on this shared machine:"
    )
    header = f"  {'path':22s} " + " ".join(f"{s:>10s}" for s in STAGES)
    print(header + f" {'cards/s':>8s} {'w/o store':>9s} {'wall/s':>7s} {'KiB/card':>8s}")
    rates = {}
    for path in paths:
        n = counts[path.name]
        per = {s: times[path.name][s] / n * 1000 for s in STAGES}
        total = sum(per.values())
        wall = sum(times[path.name][f"{s} wall"] for s in STAGES) / n
        rates[path.name] = 1000 / total
        kib = statistics.mean(sizes[path.name]) / 1024
        print(
            f"  {path.name:22s} "
            + " ".join(f"{per[s]:10.2f}" for s in STAGES)
            + f" {1000 / total:8.1f} {1000 / (total - per['storage']):9.1f} {1 / wall:7.1f}"
            + f" {kib:8.1f}"
        )
    before = rates[paths[0].name]
    for path in paths[1:]:
        print(f"  ratio {path.name} / before: {rates[path.name] / before:.1f}x (CPU)")
    if not args.no_threads:
        threads(rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
