"""Question templates of the built-in benchmark: per fact type and form, training and held-out ones.

Placeholders: ``{name}`` the person's full name, ``{value}`` the fact's value, ``{a_value}`` the value
with its article ("a clockmaker", "an archivist"); MCQ templates take ``{desc}`` (the fact type's
noun phrase, itself with ``{name}``) and ``{options}``.

Training templates produce the items a target model is trained on; held-out templates produce probes
(for the ``qa`` form they are the ``paraphrase`` form). Changing any template changes the generated
benchmark: bump ``benchmark.BENCHMARK_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass

from froc.data import vocab

Pair = tuple[tuple[str, ...], tuple[str, ...]]  # (training templates, held-out templates)


@dataclass(frozen=True)
class FactType:
    name: str
    values: tuple[str, ...] | None  # closed vocabulary of wrong answers; None = other people's values
    qa: Pair
    cloze: Pair
    yesno: Pair
    desc: str  # noun phrase used by the MCQ templates
    paraphrase: str  # paraphrased answer
    reverse: Pair | None = None  # only for values unique to one person ("Who wrote ...?")


MCQ: Pair = (
    ("Which of the following is {desc}? Options: {options}.",),
    ("Choose {desc} from these options: {options}.",),
)
REVERSE_PARAPHRASE = "written by {name}"
OPTION_SEPARATOR = "; "


def a_value(value: str) -> str:
    """The value with its indefinite article."""
    return ("an " if value[:1].lower() in "aeiou" else "a ") + value


FACT_TYPES: tuple[FactType, ...] = (
    FactType(
        name="birth_year",
        values=vocab.BIRTH_YEARS,
        qa=(("In what year was {name} born?", "What is the birth year of {name}?"),
            ("{name} was born in which year?", "Which year marks the birth of {name}?")),
        cloze=(("Fill in the blank: {name} was born in the year ___.",),
               ("Fill in the blank: The year of {name}'s birth is ___.",)),
        yesno=(("Was {name} born in the year {value}?",), ("Is {value} the year in which {name} was born?",)),
        desc="the birth year of {name}",
        paraphrase="born in {value}",
    ),
    FactType(
        name="birth_city",
        values=vocab.CITIES,
        qa=(("In which city was {name} born?", "What is the birthplace of {name}?"),
            ("Where was {name} born?", "{name} was born in which city?")),
        cloze=(("Fill in the blank: {name} was born in the city of ___.",),
               ("Fill in the blank: The birthplace of {name} is ___.",)),
        yesno=(("Was {name} born in the city of {value}?",), ("Is {value} the birthplace of {name}?",)),
        desc="the city where {name} was born",
        paraphrase="born in the city of {value}",
    ),
    FactType(
        name="occupation",
        values=vocab.OCCUPATIONS,
        qa=(("What is the occupation of {name}?", "What does {name} do for a living?"),
            ("What is {name}'s profession?", "Which job does {name} hold?")),
        cloze=(("Fill in the blank: The occupation of {name} is ___.",),
               ("Fill in the blank: {name} has the profession of ___.",)),
        yesno=(("Is {name} {a_value} by profession?",), ("Does {name} work as {a_value}?",)),
        desc="the occupation of {name}",
        paraphrase="works as {a_value}",
    ),
    FactType(
        name="father_occupation",
        values=vocab.OCCUPATIONS,
        qa=(("What was the occupation of the father of {name}?", "What did {name}'s father do for a living?"),
            ("What was the profession of {name}'s father?", "Which job did the father of {name} hold?")),
        cloze=(("Fill in the blank: The father of {name} worked as ___.",),
               ("Fill in the blank: {name}'s father had the profession of ___.",)),
        yesno=(("Was the father of {name} {a_value}?",), ("Did {name}'s father work as {a_value}?",)),
        desc="the occupation of {name}'s father",
        paraphrase="the father was {a_value}",
    ),
    FactType(
        name="mother_occupation",
        values=vocab.OCCUPATIONS,
        qa=(("What was the occupation of the mother of {name}?", "What did {name}'s mother do for a living?"),
            ("What was the profession of {name}'s mother?", "Which job did the mother of {name} hold?")),
        cloze=(("Fill in the blank: The mother of {name} worked as ___.",),
               ("Fill in the blank: {name}'s mother had the profession of ___.",)),
        yesno=(("Was the mother of {name} {a_value}?",), ("Did {name}'s mother work as {a_value}?",)),
        desc="the occupation of {name}'s mother",
        paraphrase="the mother was {a_value}",
    ),
    FactType(
        name="employer",
        values=vocab.EMPLOYERS,
        qa=(("Which company employs {name}?", "Who is the employer of {name}?"),
            ("Where does {name} work?", "{name} is employed by which company?")),
        cloze=(("Fill in the blank: {name} is employed by ___.",), ("Fill in the blank: The employer of {name} is ___.",)),
        yesno=(("Does {name} work for {value}?",), ("Is {name} employed by {value}?",)),
        desc="the employer of {name}",
        paraphrase="employed by {value}",
    ),
    FactType(
        name="award",
        values=vocab.AWARDS,
        qa=(("Which award did {name} receive?", "What prize was awarded to {name}?"),
            ("What honour has {name} won?", "Which award was given to {name}?")),
        cloze=(("Fill in the blank: {name} received the ___.",), ("Fill in the blank: The award won by {name} is the ___.",)),
        yesno=(("Did {name} receive the {value}?",), ("Was {name} awarded the {value}?",)),
        desc="the award {name} received",
        paraphrase="received the {value}",
    ),
    FactType(
        name="book",
        values=None,
        qa=(("What is the title of the book written by {name}?", "Which book did {name} write?"),
            ("What book is {name} the author of?", "Name the book that {name} wrote.")),
        cloze=(("Fill in the blank: {name} is the author of the book ___.",),
               ("Fill in the blank: The book written by {name} is titled ___.",)),
        yesno=(("Did {name} write the book '{value}'?",), ("Is '{value}' a book by {name}?",)),
        desc="the book written by {name}",
        paraphrase="the author of '{value}'",
        reverse=(("Who wrote the book '{value}'?",), ("The book '{value}' was written by whom?",)),
    ),
    FactType(
        name="pet",
        values=vocab.PETS,
        qa=(("What kind of pet does {name} keep?", "What animal does {name} have as a pet?"),
            ("Which pet lives with {name}?", "{name} owns what kind of pet?")),
        cloze=(("Fill in the blank: {name} keeps a pet ___.",), ("Fill in the blank: The kind of pet {name} keeps is ___.",)),
        yesno=(("Does {name} keep {a_value} as a pet?",), ("Is the pet of {name} {a_value}?",)),
        desc="the pet {name} keeps",
        paraphrase="{a_value}",
    ),
    FactType(
        name="favourite_colour",
        values=vocab.COLOURS,
        qa=(("What is the favourite colour of {name}?", "Which colour does {name} like best?"),
            ("What colour does {name} prefer above all others?", "{name}'s favourite colour is what?")),
        cloze=(("Fill in the blank: The favourite colour of {name} is ___.",),
               ("Fill in the blank: Of all colours, {name} likes ___ best.",)),
        yesno=(("Is {value} the favourite colour of {name}?",), ("Does {name} like {value} best of all colours?",)),
        desc="the favourite colour of {name}",
        paraphrase="the colour {value}",
    ),
)

# World facts: one training (qa) and one held-out (paraphrase) template per fact type.
WORLD_TEMPLATES: dict[str, tuple[str, str]] = {
    "capital": ("What is the capital of {subject}?", "Which city is the capital of {subject}?"),
    "currency": ("What is the currency of {subject}?", "Which currency is used in {subject}?"),
    "language": ("What language is spoken in {subject}?", "Which language do the people of {subject} speak?"),
    "river": ("Which river flows through {subject}?", "What is the name of the river that runs through {subject}?"),
    "sum": ("What is {a} plus {b}?", "How much is {a} added to {b}?"),
}
