"""Cover-image benchmarks: batched vs one-by-one generation, and the card backend's rate.

Default (any machine, CPU is fine): a tiny random Stable Diffusion pipeline is saved and loaded
back through the diffusers backend's own loading code; the same talks are generated one by
one and in batches, alternating rounds so a busy machine affects both alike; the ratio is what
to read. Then the card backend's rate.

`--full` (for a CUDA machine): an SD 1.5-sized pipeline (860M-parameter UNet, ViT-L/14-sized
text encoder, SD VAE) built from configs with random weights, whose speed does not depend on
the weight values: 512x512, 25 steps, fp16, batch 1 and 8, with and without torch.compile.

    .venv/bin/python bench/images.py                 # tiny pipeline + cards
    .venv/bin/python bench/images.py --full          # on a GPU machine

Figures are printed and written to bench/out/images.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podium.images import CardBackend, ImageSettings  # noqa: E402
from podium.images.diffusion import DiffusersBackend  # noqa: E402
from podium.models import Talk  # noqa: E402

TITLES = [
    "Scaling event-driven enrichment with Prefect and Delta Lake",
    "Async Python in production: what we learned the hard way",
    "機械学習パイプラインの設計と運用",
    "تعلم الآلة في الإنتاج",
    "Rust for data engineers",
    "मशीन लर्निंग के साथ डेटा पाइपलाइन",
    "Observability for distributed systems without the tears, a long title that wraps",
    "Асинхронный Python в продакшене",
]
TAGS = ["python", "data", "ml", "devops", "testing", "rust", "web", "cloud"]


def sample_talks(n: int) -> list[Talk]:
    """`n` varied talks (scripts, title lengths, tags)."""
    return [
        Talk(
            talk_id=f"bench-{i}",
            title=TITLES[i % len(TITLES)],
            description="A talk about building reliable systems. More detail follows.",
            speakers=["Ada Lovelace", "Grace Hopper"][: 1 + i % 2],
            tags=[TAGS[i % len(TAGS)], TAGS[(i * 3 + 1) % len(TAGS)]],
            language=["en", "en", "ja", "ar", "en", "hi", "en", "ru"][i % len(TITLES)],
        )
        for i in range(n)
    ]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: str) -> float:
    """Wall seconds of one call, GPU work included."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def bench_cards(n: int, rounds: int) -> dict[str, float]:
    """Cards per second, cold (fonts loading) and warm (median of rounds)."""
    talks = sample_talks(n)
    backend = CardBackend()
    cold = timed(lambda: backend.render(talks[:1], tags={}), "cpu")
    warm = [timed(lambda: backend.render(talks, tags={}), "cpu") for _ in range(rounds)]
    return {"cards": n, "first_card_s": cold, "cards_per_s": n / statistics.median(warm)}


def bench_tiny(n: int, batch: int, steps: int, rounds: int) -> dict[str, float]:
    """Images/s one by one vs in batches on a tiny random SD pipeline (CPU)."""
    from podium.images.testing import save_tiny_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        path = save_tiny_pipeline(Path(tmp))
        settings = ImageSettings(model=str(path), steps=steps, batch_size=1, safety_checker=True)
        single = DiffusersBackend.from_settings(settings, device="cpu")
        batched = DiffusersBackend(
            single.pipeline,
            settings=settings.model_copy(update={"batch_size": batch}),
            device="cpu",
        )
        talks = sample_talks(n)
        single.render(talks[:2], tags={})  # warm-up: first calls allocate
        batched.render(talks[:batch], tags={})
        one_by_one: list[float] = []
        in_batches: list[float] = []
        for _ in range(rounds):  # alternate, so load from other processes hits both
            one_by_one.append(timed(lambda: single.render(talks, tags={}), "cpu"))
            in_batches.append(timed(lambda: batched.render(talks, tags={}), "cpu"))
    single_rate = n / statistics.median(one_by_one)
    batch_rate = n / statistics.median(in_batches)
    return {
        "images": n,
        "steps": steps,
        "batch": batch,
        "one_by_one_images_per_s": single_rate,
        "batched_images_per_s": batch_rate,
        "batched_over_one_by_one": batch_rate / single_rate,
    }


def bench_full(
    *,
    device: str,
    steps: int,
    batches: list[int],
    compile_modes: list[bool],
    compile_mode: str,
    size: int,
    dtype: str,
) -> list[dict[str, object]]:
    """Images/s of an SD 1.5-sized random pipeline for each batch size, with/without compile."""
    import torch

    from podium.images.testing import sd15_pipeline

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        torch_dtype = getattr(torch, dtype)
        start = time.perf_counter()
        pipeline = sd15_pipeline(Path(tmp), device=device, dtype=torch_dtype)
        print(f"built SD 1.5-sized pipeline on {device} in {time.perf_counter() - start:.1f}s")
        eager_unet = pipeline.unet
        eager_unet.to(memory_format=torch.channels_last)
        talks = sample_talks(max(batches))
        for compiled in compile_modes:
            pipeline.unet = torch.compile(eager_unet, mode=compile_mode) if compiled else eager_unet
            for batch in batches:
                settings = ImageSettings(
                    model="random-sd15",
                    steps=steps,
                    batch_size=batch,
                    image_width=size,
                    image_height=size,
                    safety_checker=False,
                    dtype=dtype,  # type: ignore[arg-type]
                )
                backend = DiffusersBackend(pipeline, settings=settings, device=device)
                group = talks[:batch]
                warm = timed(lambda: backend.render(group, tags={}), device)  # noqa: B023
                runs = [
                    timed(lambda: backend.render(group, tags={}), device)  # noqa: B023
                    for _ in range(3 if batch == 1 else 2)
                ]
                rate = batch / statistics.median(runs)
                row = {
                    "batch": batch,
                    "compile": compile_mode if compiled else False,
                    "steps": steps,
                    "size": size,
                    "dtype": dtype,
                    "first_call_s": warm,
                    "images_per_s": rate,
                }
                print(
                    f"  batch {batch:>2} compile={str(compiled):<5} {rate:7.3f} images/s "
                    f"(first call {warm:.1f}s)"
                )
                results.append(row)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="SD 1.5-sized pipeline (GPU)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--talks", type=int, default=16, help="talks per timed round (tiny)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (tiny)")
    parser.add_argument("--steps", type=int, default=None, help="steps (tiny 4, full 25)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--size", type=int, default=512, help="image side (full)")
    parser.add_argument("--dtype", default=None, help="full: float16 on CUDA, float32 on CPU")
    parser.add_argument("--batches", default="1,8", help="full: batch sizes")
    parser.add_argument(
        "--compile", default="off,on", help="full: torch.compile off, on, or off,on"
    )
    parser.add_argument("--compile-mode", default="default", help="full: torch.compile mode")
    parser.add_argument("--out", default="bench/out/images.json", help="JSON results")
    args = parser.parse_args(argv)

    from podium.devices import resolve_device

    device = resolve_device(args.device)
    results: dict[str, object] = {"device": device}
    if device.startswith("cuda"):
        import torch

        results["gpu"] = torch.cuda.get_device_name(device)
    if args.full:
        if not device.startswith("cuda"):
            print("--full is meant for CUDA; on CPU use small --steps/--size to smoke-test it")
        modes = [m.strip() == "on" for m in args.compile.split(",")]
        if not device.startswith("cuda") and any(modes):
            print("torch.compile is measured on CUDA only; skipping compile=on")
            modes = [m for m in modes if not m] or [False]
        dtype = args.dtype or ("float16" if device.startswith("cuda") else "float32")
        print(f"SD 1.5-sized random pipeline, {args.size}x{args.size}, {dtype}, device {device}")
        results["full"] = bench_full(
            device=device,
            steps=args.steps or 25,
            batches=[int(b) for b in args.batches.split(",")],
            compile_modes=modes,
            compile_mode=args.compile_mode,
            size=args.size,
            dtype=dtype,
        )
    else:
        tiny = bench_tiny(args.talks, args.batch, args.steps or 4, args.rounds)
        print(
            f"tiny SD pipeline, CPU, {tiny['images']} images x {tiny['steps']} steps: "
            f"one by one {tiny['one_by_one_images_per_s']:.2f} images/s, "
            f"batch {tiny['batch']} {tiny['batched_images_per_s']:.2f} images/s "
            f"-> batched/one-by-one {tiny['batched_over_one_by_one']:.2f}x"
        )
        results["tiny"] = tiny
    cards = bench_cards(32, args.rounds)
    print(
        f"card backend: {cards['cards_per_s']:.1f} cards/s (1200x630 JPEG, mixed scripts); "
        f"first card incl. font loading {cards['first_card_s']:.2f}s"
    )
    results["cards"] = cards
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
