"""Fonts for cards: a fallback chain with per-character coverage, so any script renders.

Pillow draws a string with one font and has no fallback, so text is split into runs, each set
in the first font of the chain that has glyphs for it. The chain is: a configured font, the
Noto fonts shipped by the `manimgx-fonts` packages (Latin/Greek/Cyrillic, the major scripts of
India, Arabic, Hebrew, Thai, ... and CJK), fonts a Debian machine commonly has, and Pillow's
built-in font as the last resort (Latin only, but never missing). With libraqm present, Pillow
shapes Arabic and Indic runs correctly.
"""

from __future__ import annotations

import importlib.util
import logging
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

# Noto Sans CJK collection faces, by the language whose glyph forms they use (BCP 47 and
# the ISO 639-2/3 codes some sources use, such as pyvideo's `jpn`).
_CJK_INDEX = {
    "ja": 0,
    "jpn": 0,
    "ko": 1,
    "kor": 1,
    "zh": 2,
    "zho": 2,
    "chi": 2,
    "zh-cn": 2,
    "zh-hans": 2,
    "zh-tw": 3,
    "zh-hant": 3,
    "zh-hk": 4,
}
_SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/unifont/unifont.ttf",
)
_RTL = {"R", "AL"}
# Characters that belong to whatever run they sit in (spaces, joiners, combining marks).
_NEUTRAL_CATEGORIES = {"Zs", "Mn", "Mc", "Me", "Cf", "Cc"}


@dataclass(frozen=True)
class FontFace:
    """One face of a font file; `path=None` is Pillow's built-in font."""

    path: str | None
    index: int = 0

    @property
    def label(self) -> str:
        return "pillow-default" if self.path is None else f"{Path(self.path).name}#{self.index}"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _cjk_index(language: str) -> int:
    language = language.lower()
    return _CJK_INDEX.get(language, _CJK_INDEX.get(language.split("-")[0], 2))


def font_chain(*, language: str = "en", preferred: Path | None = None) -> list[FontFace]:
    """The fonts tried, in order, for text in `language` (a BCP 47 tag).

    Args:
        language: picks the CJK glyph forms (Japanese, Korean, Simplified/Traditional Chinese).
        preferred: a font tried first (settings' `card_font`).

    Returns:
        Faces that exist on this machine, ending with Pillow's built-in font.
    """
    faces: list[FontFace] = []
    if preferred is not None:
        if Path(preferred).is_file():
            faces.append(FontFace(str(preferred)))
        else:
            log.warning("card font %s not found; using the bundled fonts", preferred)
    noto = _package_dir("manimgx_fonts")
    if noto is not None:
        main = noto / "NotoSans[wght].ttf"
        if main.is_file():
            faces.append(FontFace(str(main)))
        for path in sorted(noto.glob("NotoSans?*[[]wght[]].ttf")):
            if "Italic" not in path.name:
                faces.append(FontFace(str(path)))
    cjk = _package_dir("manimgx_fonts_cjk")
    if cjk is not None:
        for path in sorted(cjk.glob("*.ttc")):
            faces.append(FontFace(str(path), _cjk_index(language)))
    for system in _SYSTEM_FONTS:
        if Path(system).is_file():
            index = _cjk_index(language) if system.endswith(".ttc") else 0
            faces.append(FontFace(system, index))
    if noto is not None and (noto / "NotoEmoji[wght].ttf").is_file():
        faces.append(FontFace(str(noto / "NotoEmoji[wght].ttf")))
    faces.append(FontFace(None))
    return list(dict.fromkeys(faces))


@lru_cache(maxsize=64)
def _coverage(face: FontFace) -> frozenset[int] | None:
    """Code points the face has glyphs for; None means 'assume all' (the built-in font)."""
    if face.path is None:
        return None
    try:
        from fontTools.ttLib import TTFont
    except ImportError:  # without fontTools, no per-character fallback: the first font draws
        return None
    try:
        font = TTFont(face.path, fontNumber=face.index, lazy=True)
        cmap = font.getBestCmap() or {}
        return frozenset(cmap)
    except Exception as exc:  # a broken font must not break covers
        log.warning("cannot read %s: %s", face.label, exc)
        return frozenset()


@lru_cache(maxsize=256)
def _load(face: FontFace, size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if face.path is None:
        return ImageFont.load_default(size=size)
    font = ImageFont.truetype(face.path, size=size, index=face.index)
    try:
        names = [n.decode() if isinstance(n, bytes) else n for n in font.get_variation_names()]
    except (OSError, AttributeError):  # not a variable font
        return font
    # Variable fonts' default instance varies (Noto CJK's is Thin): ask for a named weight.
    for wanted in ["Bold", "SemiBold", "Medium"] if bold else ["Regular", "Medium"]:
        if wanted in names:
            font.set_variation_by_name(wanted)
            break
    return font


def _covers(face: FontFace, char: str) -> bool:
    coverage = _coverage(face)
    return coverage is None or ord(char) in coverage


def is_rtl(text: str) -> bool:
    """Whether the first strongly directional character is right-to-left."""
    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in _RTL:
            return True
        if direction == "L":
            return False
    return False


# Advances are measured once per face at this size and scaled: FreeType's advances scale
# linearly with size (within 0.1 px at 76 px), so one measurement serves every size.
_REF_SIZE = 256
# Caps on the per-face measurement caches (entries), so a long-lived process stays bounded.
_CACHE_LIMIT = 200_000


@lru_cache(maxsize=65536)
def _simple(char: str) -> bool:
    """Whether `char` can be drawn as one cached glyph: a script that needs no shaping.

    Latin, Greek, Cyrillic, punctuation and symbols, kana, CJK ideographs and precomposed
    Hangul look the same glyph by glyph. Arabic, Hebrew, Indic, Thai scripts and combining
    marks need the shaper (raqm), so runs with them are drawn by Pillow whole.
    """
    cp = ord(char)
    if not (
        cp < 0x0590
        or 0x1D00 <= cp < 0x2C00
        or 0x2E80 <= cp < 0xA000
        or 0xAC00 <= cp < 0xD7A4
        or 0xF900 <= cp < 0xFB00
        or 0xFF00 <= cp < 0xFFF0
    ):
        return False
    category = unicodedata.category(char)
    return category[0] != "M" and category not in ("Cf", "Cc")


def _kerns(char: str) -> bool:
    # Ideographs, kana and Hangul are set on a fixed grid: no pair adjustments to measure.
    return ord(char) < 0x2E80


class _Metrics:
    """Advances and kerning of one face at one weight, measured at `_REF_SIZE` and kept."""

    def __init__(self, face: FontFace, bold: bool) -> None:
        self.font = _load(face, _REF_SIZE, bold)
        self._advance: dict[str, float] = {}
        self._kern: dict[str, float] = {}
        self._string: dict[str, float] = {}

    def advance(self, char: str) -> float:
        return _kept(self._advance, char, self.font.getlength)

    def kern(self, first: str, second: str) -> float:
        """The pair adjustment between two characters (the shaper's kerning)."""
        if not (_kerns(first) and _kerns(second)):
            return 0.0
        return _kept(self._kern, first + second, self._measure_kern)

    def string(self, text: str) -> float:
        """Width of a shaped run (complex scripts), measured whole."""
        return _kept(self._string, text, self.font.getlength)

    def _measure_kern(self, pair: str) -> float:
        # Two characters: their shaped width less their advances.
        return self.font.getlength(pair) - self.advance(pair[0]) - self.advance(pair[1])


def _kept(cache: dict[str, float], key: str, measure: Callable[[str], float]) -> float:
    # `measure(key)`, measured once and kept while the cache is under its limit.
    value = cache.get(key)
    if value is None:
        value = measure(key)
        if len(cache) < _CACHE_LIMIT:
            cache[key] = value
    return value


@lru_cache(maxsize=256)
def _metrics(face: FontFace, bold: bool) -> _Metrics:
    return _Metrics(face, bold)


@lru_cache(maxsize=16384)
def _glyph(face: FontFace, size: int, bold: bool, char: str) -> tuple[Image.Image | None, int, int]:
    """One character's coverage mask at `size`, and its offset from the pen on the baseline.

    Rendering a glyph is most of the cost of drawing text; titles reuse the same few dozen
    letters, so each is rasterised once per (face, size, weight) and then only pasted.
    """
    font = _load(face, size, bold)
    left, top, right, bottom = (int(v) for v in font.getbbox(char, anchor="ls"))
    if right <= left or bottom <= top:  # a space: nothing to draw
        return None, 0, 0
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), char, font=font, fill=255, anchor="ls")
    return mask, left, top


@dataclass
class Typesetter:
    """Measures and draws text through a font chain, one run per font.

    Widths come from per-character advances and pair kerning measured once per face (see
    `_Metrics`), so measuring a line costs dictionary look-ups, not a layout; simple scripts
    are drawn from cached glyph masks. Runs that need shaping (Arabic, Indic, Thai, combining
    marks) are measured and drawn whole by Pillow with raqm.

    Args:
        faces: the chain, most preferred first (see `font_chain`).
    """

    faces: list[FontFace]
    _run_cache: dict[str, list[tuple[FontFace, str]]] = field(default_factory=dict, repr=False)
    _width_cache: dict[tuple[str, bool], float] = field(default_factory=dict, repr=False)

    def face_for(self, char: str) -> FontFace:
        """The first face with a glyph for `char` (the last face when none has one)."""
        for face in self.faces:
            if _covers(face, char):
                return face
        return self.faces[-1]

    def runs(self, text: str) -> list[tuple[FontFace, str]]:
        """Split `text` into (face, substring) runs in logical order."""
        cached = self._run_cache.get(text)
        if cached is not None:
            return cached
        runs: list[tuple[FontFace, str]] = []
        for char in text:
            neutral = unicodedata.category(char) in _NEUTRAL_CATEGORIES
            # Stay in the current run while its font can: punctuation next to Arabic or CJK
            # keeps that run's shaping and direction instead of becoming a run of its own.
            if runs and (neutral or (runs[-1][0].path is not None and _covers(runs[-1][0], char))):
                runs[-1] = (runs[-1][0], runs[-1][1] + char)
                continue
            face = self.faces[0] if neutral else self.face_for(char)
            if runs and runs[-1][0] == face:
                runs[-1] = (face, runs[-1][1] + char)
            else:
                runs.append((face, char))
        if len(self._run_cache) >= 8192:  # a long-lived process: start over, stay bounded
            self._run_cache.clear()
        self._run_cache[text] = runs
        return runs

    def font(
        self, face: FontFace, size: int, *, bold: bool = False
    ) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return _load(face, size, bold)

    @staticmethod
    def _glyph_run(face: FontFace, piece: str) -> bool:
        return face.path is not None and all(_simple(char) for char in piece)

    def _advances(self, face: FontFace, piece: str, size: int, bold: bool) -> list[float]:
        # Pen advance after each character of a glyph run: its advance plus the kerning
        # with the next one, scaled from the reference size.
        metrics = _metrics(face, bold)
        scale = size / _REF_SIZE
        out = []
        for i, char in enumerate(piece):
            value = metrics.advance(char)
            if i + 1 < len(piece):
                value += metrics.kern(char, piece[i + 1])
            out.append(value * scale)
        return out

    def _reference_width(self, text: str, bold: bool) -> float:
        # Width at `_REF_SIZE`, kept per string: a title's words are measured once and then
        # scaled to each size the layout tries, and common words serve every card.
        key = (text, bold)
        value = self._width_cache.get(key)
        if value is None:
            value = 0.0
            for face, piece in self.runs(text):
                metrics = _metrics(face, bold)
                if self._glyph_run(face, piece):
                    value += sum(metrics.advance(c) for c in piece)
                    value += sum(metrics.kern(a, b) for a, b in pairwise(piece))
                else:  # shaped whole (or the built-in font)
                    value += metrics.string(piece)
            if len(self._width_cache) >= _CACHE_LIMIT:  # a long-lived process stays bounded
                self._width_cache.clear()
            self._width_cache[key] = value
        return value

    def width(self, text: str, size: int, *, bold: bool = False) -> float:
        """Advance width of `text` in pixels."""
        return self._reference_width(text, bold) * size / _REF_SIZE

    def fit(self, text: str, size: int, width: float, *, bold: bool = False) -> int:
        """How many leading characters of `text` fit in `width` pixels (0 when none)."""
        low, high = 0, len(text)  # widths grow with the prefix: bisect for the longest
        while low < high:
            middle = (low + high + 1) // 2
            if self.width(text[:middle], size, bold=bold) <= width:
                low = middle
            else:
                high = middle - 1
        return low

    def draw(
        self,
        image: Image.Image,
        xy: tuple[float, float],
        text: str,
        *,
        size: int,
        fill: tuple[int, int, int],
        bold: bool = False,
        align_right: bool = False,
    ) -> None:
        """Draw one line with its baseline at `xy[1]`, starting (or ending) at `xy[0]`.

        Right-to-left lines are laid out with their runs in reverse order (a run-level
        approximation of the bidi algorithm; within a run, raqm does the full one).
        """
        runs = self.runs(text)
        if is_rtl(text):
            runs = list(reversed(runs))
        x, baseline = xy
        if align_right:
            x -= self.width(text, size, bold=bold)
        y = round(baseline)
        pen: ImageDraw.ImageDraw | None = None
        for face, piece in runs:
            if not self._glyph_run(face, piece):
                pen = pen or ImageDraw.Draw(image)
                font = self.font(face, size, bold=bold)
                pen.text((x, baseline), piece, font=font, fill=fill, anchor="ls")
                x += self.width(piece, size, bold=bold)
                continue
            for char, advance in zip(piece, self._advances(face, piece, size, bold), strict=True):
                mask, left, top = _glyph(face, size, bold, char)
                if mask is not None:
                    image.paste(fill, (round(x) + left, y + top), mask)
                x += advance


def _breakable(char: str) -> bool:
    # Scripts written without spaces may break between any two characters. Korean is written
    # with spaces between words, so Hangul breaks at spaces like Latin (a word is not split).
    name = unicodedata.name(char, "")
    return name.startswith(("CJK ", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER"))


def units(text: str) -> list[str]:
    """Split text into line-breaking units: words, runs of spaces, single CJK/Thai characters."""
    out: list[str] = []
    word = ""
    for char in text:
        if char.isspace():
            if word:
                out.append(word)
                word = ""
            if out and out[-1].isspace():
                out[-1] += char
            else:
                out.append(char)
        elif _breakable(char):
            if word:
                out.append(word)
                word = ""
            out.append(char)
        else:
            word += char
    if word:
        out.append(word)
    return out


def wrap(
    typesetter: Typesetter, text: str, *, size: int, width: float, bold: bool = False
) -> list[str]:
    """Greedy line wrap of `text` to `width` pixels; over-long words are broken by character.

    Each candidate line is measured whole, as it will be drawn (a word's font can depend on
    its neighbours: Latin inside a CJK run keeps the CJK face); measurements are cached at
    one reference size, so trying several sizes re-measures nothing.
    """
    lines: list[str] = []
    line = ""
    for unit in units(" ".join(text.split())):
        candidate = line + unit
        if typesetter.width(candidate.strip(), size, bold=bold) <= width:
            line = candidate
            continue
        if unit.isspace():
            lines.append(line.strip())
            line = ""
            continue
        if line.strip():
            lines.append(line.strip())
        line = unit
        while len(line) > 1 and typesetter.width(line, size, bold=bold) > width:
            cut = max(1, typesetter.fit(line, size, width, bold=bold))
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.strip())
    return lines


def ellipsize(
    typesetter: Typesetter, text: str, *, size: int, width: float, bold: bool = False
) -> str:
    """`text`, cut and ended with an ellipsis where it is wider than `width`."""
    if typesetter.width(text, size, bold=bold) <= width:
        return text
    room = width - typesetter.width("…", size, bold=bold)
    cut = typesetter.fit(text, size, room, bold=bold)
    return text[:cut].rstrip() + "…"


def covered(typesetter: Typesetter, text: str) -> bool:
    """Whether every visible character of `text` has a glyph in some real font of the chain."""
    for char in text:
        if char.isspace() or unicodedata.category(char) in _NEUTRAL_CATEGORIES:
            continue
        if typesetter.face_for(char).path is None:
            return False
    return True


def describe(faces: Iterable[FontFace]) -> str:
    """A short label of a chain, for logs."""
    return ", ".join(face.label for face in faces)
