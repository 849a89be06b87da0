"""Stop strings: cut at the first one, never show half of one."""

from __future__ import annotations

from service.engines.stopping import StopMatcher


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = ""
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out += text
        if stopped:
            return out, True
    return out + matcher.flush(), False


def test_stop_string_split_across_pieces_is_caught_and_dropped() -> None:
    assert feed_all(StopMatcher(["END"]), ["abc E", "N", "D more"]) == ("abc ", True)


def test_partial_match_is_held_then_released() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("go ST") == ("go ", False)
    assert matcher.feed("ART") == ("START", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(StopMatcher(["b", "a"]), ["xxab"]) == ("xx", True)


def test_without_stops_text_passes_through() -> None:
    assert feed_all(StopMatcher([]), ["a", "b"]) == ("ab", False)
    assert feed_all(StopMatcher([""]), ["a"]) == ("a", False)


def test_held_text_is_flushed_at_the_end() -> None:
    assert feed_all(StopMatcher(["xyz"]), ["ab x"]) == ("ab x", False)
