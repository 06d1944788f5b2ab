"""Vocabulary helpers: map free-form tags onto the vocabulary, describe labels for a model."""

from __future__ import annotations

from collections.abc import Iterable

from podium.models import TagDefinition, Vocabulary, normalise_tag


def synonym_map(vocabulary: Vocabulary) -> dict[str, str]:
    """Free-form tag (normalised) -> vocabulary tag, from names and synonyms.

    A synonym claimed by two tags goes to the first; a tag's own name always maps to itself.
    """
    mapping: dict[str, str] = {}
    for definition in vocabulary.tags:
        for synonym in definition.synonyms:
            mapping.setdefault(normalise_tag(synonym), definition.name)
    for definition in vocabulary.tags:
        mapping[definition.name] = definition.name
    return mapping


def map_tags(tags: Iterable[str], mapping: dict[str, str]) -> list[str]:
    """The vocabulary tags that free-form `tags` stand for, in first-seen order."""
    out = [mapping[t] for t in (normalise_tag(t) for t in tags) if t in mapping]
    return list(dict.fromkeys(out))


def label_texts(definition: TagDefinition) -> list[str]:
    """Texts whose embeddings together describe a tag: name, description, synonyms.

    The name comes first; a description (when given) is the most informative; synonyms add
    the words people actually use ("sklearn" for machine learning).
    """
    texts = [definition.name]
    if definition.description:
        texts.append(f"{definition.name}: {definition.description}")
    texts.extend(s for s in definition.synonyms if s != definition.name)
    return list(dict.fromkeys(texts))


def vocabulary_from_mapping(
    names: Iterable[str],
    synonyms: dict[str, list[str]] | None = None,
    descriptions: dict[str, str] | None = None,
) -> Vocabulary:
    """Build a Vocabulary from plain names plus optional synonyms and descriptions."""
    synonyms = synonyms or {}
    descriptions = descriptions or {}
    return Vocabulary(
        tags=[
            TagDefinition(
                name=name,
                description=descriptions.get(name, ""),
                synonyms=list(dict.fromkeys(normalise_tag(s) for s in synonyms.get(name, []))),
            )
            for name in names
        ]
    )
