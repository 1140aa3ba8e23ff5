"""A deterministic generator of simple English children's stories.

The default model is trained on text that this file writes, so the whole
pipeline (corpus -> tokenizer -> weights) needs no download and no data set.
Stories are built from sentence templates and word lists (characters, places,
objects, actions, feelings, dialogue) with a few plot shapes, so that a tiny
model sees a small vocabulary used in many grammatical combinations.

`story(rng)` writes one story from a `random.Random`; `training_stories(seed,
n)` and `heldout_stories()` give the two splits. The held-out split uses its
own fixed seed and is removed from the training split, so it stays unseen
whatever training seed is chosen.
"""
from __future__ import annotations

import random
import re

HELDOUT_SEED = 20240229
HELDOUT_COUNT = 120

# ---------------------------------------------------------------- word lists
# (name, pronoun set) -- pronoun sets: subject, object, possessive
GIRLS = ("Lily", "Mia", "Anna", "Sue", "Emma", "Lucy", "Amy", "Zoe", "Kate", "Rose")
BOYS = ("Tom", "Ben", "Sam", "Max", "Tim", "Jack", "Leo", "Bob", "Joe", "Dan")
SHE = ("she", "her", "her")
HE = ("he", "him", "his")
KINDS_GIRL = ("girl", "little girl")
KINDS_BOY = ("boy", "little boy")
ANIMALS = (  # (kind, name, pronouns)
    ("cat", "Kitty", SHE), ("dog", "Spot", HE), ("bunny", "Hop", HE),
    ("bird", "Tweet", SHE), ("bear", "Fluffy", HE), ("duck", "Quack", SHE),
    ("frog", "Jumpy", HE), ("mouse", "Squeak", SHE), ("fox", "Red", HE),
    ("puppy", "Buddy", HE),
)
RELATIVES = ("mom", "dad", "friend", "sister", "brother", "grandma")
ADJ_PERSON = ("happy", "kind", "curious", "brave", "shy", "funny", "little", "smart")
ADJ_THING = ("big", "small", "red", "blue", "shiny", "soft", "pretty", "green",
             "yellow", "old", "new", "round")
OBJECTS = ("ball", "kite", "box", "toy car", "doll", "book", "hat", "cake", "flower",
           "rock", "boat", "drum", "apple", "cup", "block", "key", "star", "shell")
PLACES = ("park", "garden", "forest", "beach", "lake", "farm", "yard", "store",
          "hill", "river", "school", "playground")
HIGH_SPOTS = ("up in a tree", "on top of the roof", "on a high shelf", "on a big rock")
LOW_SPOTS = ("under the bed", "behind a bush", "in the tall grass", "under a big leaf",
             "in the sand", "near the water")
PLAYS = ("play with {pos} ball", "run and jump", "draw pictures", "sing songs",
         "play in the sand", "read books", "climb trees", "help {pos} mom",
         "dance in the sun", "build with blocks", "look at the sky", "pick flowers")
FEEL_GOOD = ("happy", "glad", "excited", "proud")
FEEL_BAD = ("sad", "scared", "upset", "worried")
WEATHER = ("sunny", "warm", "bright", "windy", "rainy", "cold")
SAID = ("said", "asked", "shouted", "smiled and said", "replied")
EXCLAIM = ("Wow", "Look", "Oh no", "Yay", "Hello", "Oh")
LESSONS = (
    "that sharing is good", "that friends help each other",
    "to be careful", "to be kind to everyone", "that it is good to say sorry",
    "to always try again",
)


def _a(word: str) -> str:
    """'a' or 'an' before `word`."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


class _Hero:
    """The main character of one story and the words that refer to it."""

    def __init__(self, rng: random.Random):
        pick = rng.random()
        if pick < 0.35:
            self.name, self.kind, (self.sub, self.obj, self.pos) = rng.choice(GIRLS), rng.choice(KINDS_GIRL), SHE
        elif pick < 0.7:
            self.name, self.kind, (self.sub, self.obj, self.pos) = rng.choice(BOYS), rng.choice(KINDS_BOY), HE
        else:
            self.kind, self.name, (self.sub, self.obj, self.pos) = rng.choice(ANIMALS)
        self.adj = rng.choice(ADJ_PERSON)


def _friend(rng: random.Random, hero: _Hero) -> tuple[str, str]:
    """(name, subject pronoun) of a second character distinct from the hero."""
    while True:
        if rng.random() < 0.6:
            name, sub = rng.choice(GIRLS + BOYS), None
            sub = "she" if name in GIRLS else "he"
        else:
            kind, name, (sub, _, _) = rng.choice(ANIMALS)
        if name != hero.name:
            return name, sub


# ---------------------------------------------------------------- story parts

def _opening(rng: random.Random, h: _Hero) -> list[str]:
    adj_kind = f"{h.adj} {h.kind}" if not h.kind.startswith("little") else h.kind
    forms = (
        f"Once upon a time, there was {_a(adj_kind)} named {h.name}.",
        f"Once upon a time, {_a(adj_kind)} named {h.name} lived near a {rng.choice(PLACES)}.",
        f"One day, {_a(adj_kind)} named {h.name} woke up early.",
        f"There was once {_a(adj_kind)} called {h.name}.",
    )
    out = [rng.choice(forms)]
    play = rng.choice(PLAYS).format(pos=h.pos)
    out.append(rng.choice((
        f"{_cap(h.sub)} loved to {play}.",
        f"{h.name} liked to {play} every day.",
        f"{_cap(h.sub)} was very {rng.choice(ADJ_PERSON)} and liked to {play}.",
    )))
    return out


def _plot_lost(rng: random.Random, h: _Hero) -> list[str]:
    """The hero loses a thing, feels bad, finds it with help."""
    thing = f"{rng.choice(ADJ_THING)} {rng.choice(OBJECTS)}"
    place = rng.choice(PLACES)
    friend, fsub = _friend(rng, h)
    spot = rng.choice(LOW_SPOTS)
    bad, good = rng.choice(FEEL_BAD), rng.choice(FEEL_GOOD)
    return [
        f"{h.name} had {_a(thing)}.",
        rng.choice((f"One day, {h.sub} took the {thing.split(' ', 1)[1]} to the {place}.",
                    f"One {rng.choice(WEATHER)} day, {h.sub} went to the {place} with {h.pos} {thing.split(' ', 1)[1]}.")),
        f"{_cap(h.sub)} played all day, but then the {thing.split(' ', 1)[1]} was gone!",
        f"{h.name} felt {bad}. {_cap(h.sub)} looked everywhere, but {h.sub} could not find it.",
        f"Then {friend} came to the {place}.",
        f"\"Why are you {bad}?\" {friend} asked.",
        f"\"I lost my {thing},\" {h.name} said.",
        f"\"I will help you,\" said {friend}.",
        f"They looked {spot} and found the {thing}!",
        f"{h.name} was so {good}. \"Thank you, {friend}!\" {h.sub} said.",
    ]


def _plot_stuck(rng: random.Random, h: _Hero) -> list[str]:
    """A thing is too high; the hero tries, fails, and gets help."""
    thing = rng.choice(OBJECTS)
    adj = rng.choice(ADJ_THING)
    spot = rng.choice(HIGH_SPOTS)
    place = rng.choice(PLACES)
    rel = rng.choice(RELATIVES)
    ex = rng.choice(EXCLAIM[:2])
    return [
        f"One day, {h.name} went to the {place}.",
        f"{_cap(h.sub)} saw {_a(adj + ' ' + thing)} {spot}.",
        f"\"{ex}, {_a(adj + ' ' + thing)}!\" {h.sub} {rng.choice(SAID[:3])}.",
        f"{h.name} wanted the {thing}, but it was too high.",
        f"{_cap(h.sub)} tried to jump, but {h.sub} could not reach it.",
        f"{h.name} felt {rng.choice(FEEL_BAD)}.",
        f"Then {h.pos} {rel} came. \"Do not be sad, I can help,\" said {h.pos} {rel}.",
        f"{_cap(h.pos)} {rel} got the {thing} and gave it to {h.name}.",
        f"{h.name} was very {rng.choice(FEEL_GOOD)}. {_cap(h.sub)} said, \"Thank you!\"",
    ]


def _plot_share(rng: random.Random, h: _Hero) -> list[str]:
    """The hero will not share, a friend is sad, the hero learns to share."""
    thing = rng.choice(OBJECTS)
    adj = rng.choice(ADJ_THING)
    friend, fsub = _friend(rng, h)
    place = rng.choice(PLACES)
    return [
        f"{h.name} had {_a(adj + ' ' + thing)}. {_cap(h.sub)} loved it very much.",
        f"One day, {h.name} and {friend} played in the {place}.",
        f"{friend} said, \"Can I play with your {thing}, please?\"",
        f"\"No, it is my {thing},\" {h.name} said.",
        f"{friend} was sad and {fsub} began to cry.",
        f"{h.name} saw {friend} cry and felt bad.",
        f"{_cap(h.sub)} said, \"I am sorry. You can play with my {thing} too.\"",
        f"{friend} smiled. They played with the {thing} together.",
        f"They had a lot of fun, and {h.name} learned {rng.choice((LESSONS[0], LESSONS[3], LESSONS[4]))}.",
    ]


def _plot_scared(rng: random.Random, h: _Hero) -> list[str]:
    """The hero hears a noise, is scared, and finds a small friendly animal."""
    place = rng.choice(("forest", "garden", "yard", "farm", "park"))
    kind, aname, _ = rng.choice(ANIMALS)
    spot = rng.choice(LOW_SPOTS)
    rel = rng.choice(RELATIVES)
    return [
        f"One {rng.choice(WEATHER)} day, {h.name} and {h.pos} {rel} went to the {place}.",
        f"{_cap(h.sub)} heard a loud noise {spot}.",
        f"{h.name} was scared. \"What is that?\" {h.sub} asked.",
        f"{_cap(h.pos)} {rel} said, \"Let us go and look.\"",
        f"They looked {spot} and saw a little {kind}.",
        f"The {kind} was not scary at all. It was small and {rng.choice(('soft', 'cute', 'funny'))}.",
        f"{h.name} laughed. \"Hello, little {kind}! I will call you {aname},\" {h.sub} said.",
        f"{h.name} and {aname} became good friends.",
    ]


def _plot_make(rng: random.Random, h: _Hero) -> list[str]:
    """The hero makes something, it breaks, and they try again."""
    make = rng.choice(("a sand castle", "a tower of blocks", "a big cake", "a paper boat",
                       "a snow man", "a picture"))
    friend, fsub = _friend(rng, h)
    cause = rng.choice(("the wind came", "a dog ran by", "it started to rain",
                        "a big wave came"))
    return [
        f"One day, {h.name} wanted to make {make}.",
        f"{_cap(h.sub)} worked very hard. It was very {rng.choice(('big', 'pretty', 'good'))}.",
        f"But then {cause}, and it fell down!",
        f"{h.name} was {rng.choice(FEEL_BAD)}. \"Oh no!\" {h.sub} said.",
        f"{friend} came and said, \"Do not be sad. We can make it again together.\"",
        f"So {h.name} and {friend} made {make} again. This time it was even better.",
        f"{h.name} learned {rng.choice((LESSONS[1], LESSONS[5]))}.",
    ]


def _ending(rng: random.Random, h: _Hero) -> list[str]:
    return [rng.choice((
        f"From that day on, {h.name} was always {rng.choice(FEEL_GOOD)}.",
        f"{h.name} went home and told {h.pos} {rng.choice(RELATIVES)} all about it.",
        "They played together until the sun went down.",
        f"That night, {h.name} went to bed with a big smile.",
        f"It was the best day ever for {h.name}.",
    ))]


PLOTS = (_plot_lost, _plot_stuck, _plot_share, _plot_scared, _plot_make)


def story(rng: random.Random) -> str:
    """One story: opening, one plot, ending. One paragraph, no newline."""
    hero = _Hero(rng)
    sentences = _opening(rng, hero) + rng.choice(PLOTS)(rng, hero) + _ending(rng, hero)
    return " ".join(sentences)


def stories(seed: int, n: int) -> list[str]:
    """`n` stories from `seed`; the same (seed, n) gives the same list."""
    rng = random.Random(seed)
    return [story(rng) for _ in range(n)]


def heldout_stories() -> list[str]:
    """The fixed held-out split (calibration and perplexity text)."""
    return stories(HELDOUT_SEED, HELDOUT_COUNT)


def training_stories(seed: int, n: int) -> list[str]:
    """`n` training stories, none of which is in the held-out split."""
    held = set(heldout_stories())
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        s = story(rng)
        if s not in held:
            out.append(s)
    return out


def vocabulary() -> set[str]:
    """Every word (letters only, lower case) that a story can contain."""
    words: set[str] = set()
    for s in stories(1, 3000):
        words.update(re.findall(r"[a-z]+", s.lower()))
    return words
