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
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import ImageDraw, ImageFont

log = logging.getLogger(__name__)

# Noto Sans CJK collection faces, by the language whose glyph forms they use.
_CJK_INDEX = {
    "ja": 0,
    "ko": 1,
    "zh": 2,
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


@dataclass
class Typesetter:
    """Measures and draws text through a font chain, one run per font.

    Args:
        faces: the chain, most preferred first (see `font_chain`).
    """

    faces: list[FontFace]
    _run_cache: dict[str, list[tuple[FontFace, str]]] = field(default_factory=dict, repr=False)

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
        if len(self._run_cache) < 4096:
            self._run_cache[text] = runs
        return runs

    def font(
        self, face: FontFace, size: int, *, bold: bool = False
    ) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return _load(face, size, bold)

    def width(self, text: str, size: int, *, bold: bool = False) -> float:
        """Advance width of `text` in pixels."""
        return sum(self.font(f, size, bold=bold).getlength(s) for f, s in self.runs(text))

    def draw(
        self,
        draw: ImageDraw.ImageDraw,
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
        for face, piece in runs:
            font = self.font(face, size, bold=bold)
            draw.text((x, baseline), piece, font=font, fill=fill, anchor="ls")
            x += font.getlength(piece)


def _breakable(char: str) -> bool:
    # Scripts written without spaces may break between any two characters.
    name = unicodedata.name(char, "")
    return name.startswith(("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER"))


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
    """Greedy line wrap of `text` to `width` pixels; over-long words are broken by character."""
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
        while typesetter.width(line, size, bold=bold) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and typesetter.width(line[:cut], size, bold=bold) > width:
                cut -= 1
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
    cut = len(text)
    while cut > 0 and typesetter.width(text[:cut].rstrip() + "…", size, bold=bold) > width:
        cut -= 1
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
