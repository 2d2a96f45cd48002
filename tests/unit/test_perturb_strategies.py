"""Perturbation strategies: valid texts, the trigger kept where promised, small shrunk examples."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from neurontest.perturb import (
    DeleteToken, InsertToken, InsertTrigger, ReplaceToken, ReplaceTrigger, SwapTrigger, TokenText,
    apply_edits, change_case,
    context_edits, delete_token, filled_templates, insert_token, perturbed, pool, random_contexts,
    replace_trigger, swap_trigger, template_texts, token_texts, with_member_inserted,
)
from neurontest.claims.settings import RunSettings

FAST = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
SHRINK = settings(FAST, max_examples=500)
TEXTS = ["we met in [[March]] 2020", "the food was not very [[good]]", "[[May]] came early"]
WORDS = pool([" the", " cat", " park", " rain"], "pool")
MONTHS = ["March", "April", "May", "June"]


def test_token_text_from_marked_keeps_spacing_and_trigger() -> None:
    text = TokenText.from_marked("we met in [[March]] 2020")
    assert text.tokens == ("we", " met", " in", " March", " 2020")
    assert text.trigger == 3 and text.trigger_token == " March"
    assert text.marked() == "we met in [[March]] 2020"
    assert repr(text) == "TokenText('we met in [[March]] 2020')"
    assert TokenText.from_marked("no mark here").trigger is None


def test_edits_move_the_trigger_index_with_the_text() -> None:
    text = TokenText.from_marked("we met in [[March]] 2020")
    deleted = DeleteToken(0).apply(text)
    assert deleted.trigger_token == " March" and deleted.tokens[0] == " met"
    inserted = InsertToken(0, "so").apply(text)
    assert inserted.trigger_token == " March" and inserted.edits == ("insert 'so' at 0",)
    swapped = SwapTrigger("May").apply(text)
    assert swapped.trigger_token == " May" and swapped.edits == ("swap trigger ' March' -> ' May'",)
    assert ReplaceTrigger("cat").apply(text).trigger_token == " cat"
    lone = TokenText((" March",), 0)
    assert DeleteToken(5).apply(lone) == lone  # nowhere to act: unchanged
    bare = TokenText(("we", " met"))
    assert InsertTrigger(1, "May").apply(bare).marked() == "we [[May]] met"


def test_a_list_of_edits_addresses_the_unedited_text() -> None:
    # so dropping one edit while shrinking does not move the others
    text = TokenText.from_marked("the food was not very [[good]]")
    assert apply_edits(text, [DeleteToken(0), DeleteToken(3)]).edits == ("delete 'the'", "delete ' not'")
    assert apply_edits(text, [DeleteToken(3)]).edits == ("delete ' not'",)
    later_wins = apply_edits(text, [DeleteToken(3), ReplaceToken(3, " so")])
    assert later_wins.text() == "the food was so very good" and later_wins.trigger_token == " good"


@FAST
@given(perturbed(token_texts(TEXTS), context_edits(WORDS), max_edits=4))
def test_context_edits_keep_the_trigger_token(text: TokenText) -> None:
    assert text.trigger is not None and text.tokens
    original = next(TokenText.from_marked(t) for t in TEXTS
                    if TokenText.from_marked(t).trigger_token == text.trigger_token)
    assert text.trigger_token == original.trigger_token
    assert len(text.edits) <= 4
    assert "[[" in text.marked()


@FAST
@given(perturbed(token_texts(TEXTS[:1]), context_edits(WORDS) | swap_trigger(MONTHS)))
def test_swaps_keep_a_member_at_the_trigger(text: TokenText) -> None:
    assert text.trigger_token is not None and text.trigger_token.strip() in MONTHS


@FAST
@given(perturbed(token_texts(TEXTS[:1]), delete_token(), max_edits=0,
                 first=replace_trigger(["cat", "rain"])))
def test_replace_trigger_puts_a_non_member_there(text: TokenText) -> None:
    assert text.trigger_token in (" cat", " rain")
    assert text.edits and text.edits[0].startswith("replace trigger")


@FAST
@given(with_member_inserted(random_contexts(WORDS, max_size=5), MONTHS))
def test_inserted_member_is_the_trigger(text: TokenText) -> None:
    assert text.trigger_token is not None and text.trigger_token.strip() in MONTHS
    assert 2 <= len(text.tokens) <= 6


@FAST
@given(template_texts(["We met in [[{month}]] {year}", "In [[{month}]] it rained"],
                      {"month": MONTHS, "year": ["2020", "1999"]}))
def test_templates_fill_every_slot(text: TokenText) -> None:
    assert "{" not in text.text()
    assert text.trigger_token is not None and text.trigger_token.strip() in MONTHS


def test_template_with_a_missing_slot_says_which() -> None:
    with pytest.raises(ValueError, match=r"slot \{year\}"):
        find(filled_templates(["in [[{month}]] {year}"], {"month": MONTHS}), lambda s: True,
             settings=FAST)


def test_shrinks_to_the_single_edit_that_matters() -> None:
    # "the property breaks when 'not' is gone": the minimal example deletes or replaces it alone
    found = find(perturbed(token_texts(TEXTS[1:2]), context_edits(WORDS), max_edits=4),
                 lambda t: "not" not in "".join(t.tokens), settings=SHRINK)
    assert found.edits in (("delete ' not'",), ("replace ' not' -> ' the'",)), found
    assert found.trigger_token == " good"


def test_shrinks_to_the_first_text_and_the_simplest_edit() -> None:
    found = find(perturbed(token_texts(TEXTS), context_edits(WORDS) | swap_trigger(MONTHS)),
                 lambda t: t.trigger_token.strip() != "good" and len(t.edits) >= 1,
                 settings=SHRINK)
    # first text, one edit, the first kind (delete) at the first place
    assert found == TokenText((" met", " in", " March", " 2020"), 2, ("delete 'we'",)), found


def test_shrinks_an_inserted_member_to_a_one_word_context() -> None:
    found = find(with_member_inserted(random_contexts(WORDS), MONTHS),
                 lambda t: t.trigger_token.strip() == "May", settings=SHRINK)
    assert len(found.tokens) == 2 and found.trigger == 0, found


def test_reprs_read_like_the_calls() -> None:
    assert repr(delete_token()) == "delete_token()"
    assert repr(change_case()) == "change_case()"
    assert repr(insert_token(WORDS)) == "insert_token(pool[' the', ' cat', ' park', ...] (4 words))"
    assert "swap_trigger" in repr(context_edits(WORDS) | swap_trigger(MONTHS))


def test_strategies_compose_with_map_and_flatmap() -> None:
    lengths = token_texts(TEXTS).map(lambda t: len(t.tokens))
    nested = st.integers(1, 3).flatmap(lambda k: perturbed(token_texts(TEXTS), delete_token(),
                                                           max_edits=k))
    assert find(lengths, lambda n: n >= 5, settings=FAST) == 5
    assert len(find(nested, lambda t: len(t.edits) >= 2, settings=SHRINK).edits) == 2


def test_run_settings_carry_the_hypothesis_profile(tmp_path) -> None:
    ci = RunSettings.from_options(hypothesis_profile="ci", max_examples=7, rootdir=tmp_path)
    assert ci.derandomize and ci.database_dir is None and ci.max_examples == 7
    default = RunSettings.from_options(rootdir=tmp_path)
    assert default.database_dir == tmp_path / ".hypothesis" / "neurontest"
    with pytest.raises(ValueError, match="unknown neurontest hypothesis profile"):
        RunSettings.from_options(hypothesis_profile="nightly")
    with pytest.raises(ValueError, match="max-examples"):
        RunSettings.from_options(max_examples=0)


def test_a_pool_builds_its_sampled_strategy_once() -> None:
    months, words = pool(MONTHS, "months"), pool(["cat"], "words")
    assert months.sampled is months.sampled and months.sampled is not words.sampled
    assert find(words.sampled, lambda w: True, settings=FAST) == "cat"
    assert find(months.sampled, lambda w: w != "March", settings=FAST) in MONTHS
