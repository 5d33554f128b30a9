"""Question templates of the built-in benchmark: per fact type and form, training and held-out ones.

Placeholders: ``{name}`` the person's full name, ``{value}`` the fact's value, ``{a_value}`` the value
with its article ("a clockmaker", "an archivist"); MCQ templates take ``{desc}`` (the fact type's
noun phrase, itself with ``{name}``) and ``{options}``.

Every form has *training* templates (the target model is trained on them; ``train.jsonl``) and
*held-out* templates (never trained; ``probes.jsonl``; for the ``qa`` form they are the
``paraphrase`` form). The first :data:`N_REQUEST` training ``qa`` templates of each fact type are the
*request* templates: a forget request holds a forgotten person's facts in those phrasings only, so
the other training templates (``meta.template_split = "train"``: known to the target, never shown to
the unlearning method) and the held-out ones (``"heldout"``) are probes the method never saw.

Sizes (per fact type): 6 training + 5 held-out ``qa``, 3 + 2 ``cloze``, 2 + 2 ``mcq`` (shared by all
fact types), 2 + 1 ``yesno`` (half of a person's statements true per template) and 3 + 1 ``reverse`` for
the book (the one value unique to a person). Held-out templates recombine the words of the training
ones. Many varied training phrasings are what makes held-out paraphrases generalise: with one or two
per form a small model memorises the wording (held-out exact match ~0.4), with these ~0.97.

Changing any template changes the generated benchmark: bump ``benchmark.BENCHMARK_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass

from froc.data import vocab

Pair = tuple[tuple[str, ...], tuple[str, ...]]  # (training templates, held-out templates)
N_REQUEST = 3  # the first N_REQUEST training qa templates of each fact type form the forget request


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
    ("Which of the following is {desc}? Options: {options}.",
     "Pick {desc} from the list: {options}."),
    ("Choose {desc} from these options: {options}.", "Here are some options: {options}. Which is {desc}?"),
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
        qa=(("In what year was {name} born?", "What is the birth year of {name}?", "{name} was born in what year?",
             "When was {name} born?", "Tell me the year of birth of {name}.", "What year was {name} born in?"),
            ("{name} was born in which year?", "Which year marks the birth of {name}?",
             "What was the birth year of {name}?", "In which year did {name} come into the world?",
             "Tell me when {name} was born.")),
        cloze=(("Fill in the blank: {name} was born in the year ___.",
                "Fill in the blank: The birth year of {name} is ___.",
                "Fill in the blank: In ___, {name} was born."),
               ("Fill in the blank: The year of {name}'s birth is ___.", "Fill in the blank: {name} came into the world in ___.")),
        yesno=(("Was {name} born in the year {value}?", "Is {value} the birth year of {name}?"),
               ("Is {value} the year in which {name} was born?",)),
        desc="the birth year of {name}",
        paraphrase="born in {value}",
    ),
    FactType(
        name="birth_city",
        values=vocab.CITIES,
        qa=(("In which city was {name} born?", "What is the birthplace of {name}?", "Where was {name} born?",
             "{name} was born in what city?", "Tell me the city where {name} was born.",
             "What city is the birthplace of {name}?"),
            ("{name} was born in which city?", "Which city was {name} born in?",
             "Name the city where {name} was born.", "What is {name}'s birthplace?",
             "In what city was {name} born?")),
        cloze=(("Fill in the blank: {name} was born in the city of ___.",
                "Fill in the blank: The birthplace of {name} is ___.",
                "Fill in the blank: The city where {name} was born is ___."),
               ("Fill in the blank: {name}'s birthplace is the city of ___.", "Fill in the blank: The city of ___ is where {name} was born.")),
        yesno=(("Was {name} born in the city of {value}?", "Is {value} the birthplace of {name}?"),
               ("Is {value} the city where {name} was born?",)),
        desc="the city where {name} was born",
        paraphrase="born in the city of {value}",
    ),
    FactType(
        name="occupation",
        values=vocab.OCCUPATIONS,
        qa=(("What is the occupation of {name}?", "What does {name} do for a living?", "What is {name}'s profession?",
             "Which job does {name} have?", "Tell me the occupation of {name}.", "What is the job of {name}?"),
            ("What is {name}'s occupation?", "Which profession does {name} have?",
             "What does {name} work as?", "Tell me the profession of {name}.",
             "What job does {name} do for a living?")),
        cloze=(("Fill in the blank: The occupation of {name} is ___.",
                "Fill in the blank: {name} works in the profession of ___.",
                "Fill in the blank: The job of {name} is ___."),
               ("Fill in the blank: {name} has the profession of ___.", "Fill in the blank: For a living, {name} works as ___.")),
        yesno=(("Is {name} {a_value} by profession?", "Does {name} work as {a_value}?"),
               ("Is {name}'s job that of {a_value}?",)),
        desc="the occupation of {name}",
        paraphrase="works as {a_value}",
    ),
    FactType(
        name="father_occupation",
        values=vocab.OCCUPATIONS,
        qa=(("What was the occupation of the father of {name}?", "What did {name}'s father do for a living?",
             "What was the profession of {name}'s father?", "Which job did the father of {name} have?",
             "Tell me the occupation of {name}'s father.", "What was the job of {name}'s father?"),
            ("What was {name}'s father's occupation?", "Which profession did the father of {name} have?",
             "What did the father of {name} work as?", "Tell me the profession of {name}'s father.",
             "What job did the father of {name} do for a living?")),
        cloze=(("Fill in the blank: The father of {name} worked as ___.",
                "Fill in the blank: The occupation of {name}'s father was ___.",
                "Fill in the blank: The job of {name}'s father was ___."),
               ("Fill in the blank: {name}'s father had the profession of ___.", "Fill in the blank: For a living, the father of {name} worked as ___.")),
        yesno=(("Was the father of {name} {a_value}?", "Did {name}'s father work as {a_value}?"),
               ("Was {name}'s father {a_value} by profession?",)),
        desc="the occupation of {name}'s father",
        paraphrase="the father was {a_value}",
    ),
    FactType(
        name="mother_occupation",
        values=vocab.OCCUPATIONS,
        qa=(("What was the occupation of the mother of {name}?", "What did {name}'s mother do for a living?",
             "What was the profession of {name}'s mother?", "Which job did the mother of {name} have?",
             "Tell me the occupation of {name}'s mother.", "What was the job of {name}'s mother?"),
            ("What was {name}'s mother's occupation?", "Which profession did the mother of {name} have?",
             "What did the mother of {name} work as?", "Tell me the profession of {name}'s mother.",
             "What job did the mother of {name} do for a living?")),
        cloze=(("Fill in the blank: The mother of {name} worked as ___.",
                "Fill in the blank: The occupation of {name}'s mother was ___.",
                "Fill in the blank: The job of {name}'s mother was ___."),
               ("Fill in the blank: {name}'s mother had the profession of ___.", "Fill in the blank: For a living, the mother of {name} worked as ___.")),
        yesno=(("Was the mother of {name} {a_value}?", "Did {name}'s mother work as {a_value}?"),
               ("Was {name}'s mother {a_value} by profession?",)),
        desc="the occupation of {name}'s mother",
        paraphrase="the mother was {a_value}",
    ),
    FactType(
        name="employer",
        values=vocab.EMPLOYERS,
        qa=(("Which company employs {name}?", "Who is the employer of {name}?", "Where does {name} work?",
             "{name} works for which company?", "Tell me the employer of {name}.", "What company does {name} work for?"),
            ("{name} is employed by which company?", "Who employs {name}?",
             "Which company is {name}'s employer?", "Tell me which company employs {name}.",
             "Who does {name} work for?")),
        cloze=(("Fill in the blank: {name} is employed by ___.", "Fill in the blank: The employer of {name} is ___.",
                "Fill in the blank: {name} works for ___."),
               ("Fill in the blank: The company that employs {name} is ___.", "Fill in the blank: {name} has a job at ___.")),
        yesno=(("Does {name} work for {value}?", "Is {name} employed by {value}?"),
               ("Does {value} employ {name}?",)),
        desc="the employer of {name}",
        paraphrase="employed by {value}",
    ),
    FactType(
        name="award",
        values=vocab.AWARDS,
        qa=(("Which award did {name} receive?", "What prize was awarded to {name}?", "What award has {name} won?",
             "{name} received which award?", "Tell me the award that {name} won.", "Which prize did {name} win?"),
            ("Which award was given to {name}?", "What prize did {name} receive?",
             "{name} won which award?", "Tell me the prize that was awarded to {name}.",
             "What prize has {name} won?")),
        cloze=(("Fill in the blank: {name} received the ___.", "Fill in the blank: The award won by {name} is the ___.",
                "Fill in the blank: {name} was awarded the ___."),
               ("Fill in the blank: The prize given to {name} is the ___.", "Fill in the blank: The award that {name} won is the ___.")),
        yesno=(("Did {name} receive the {value}?", "Was {name} awarded the {value}?"),
               ("Is the {value} the award {name} received?",)),
        desc="the award {name} received",
        paraphrase="received the {value}",
    ),
    FactType(
        name="book",
        values=None,
        qa=(("What is the title of the book written by {name}?", "Which book did {name} write?",
             "What book is {name} the author of?", "{name} wrote which book?", "Tell me the book that {name} wrote.",
             "What is the name of {name}'s book?"),
            ("Name the book that {name} wrote.", "Which book is {name} the author of?",
             "What is the title of {name}'s book?", "Tell me the title of the book by {name}.",
             "{name} is the author of which book?")),
        cloze=(("Fill in the blank: {name} is the author of the book ___.",
                "Fill in the blank: The book written by {name} is titled ___.",
                "Fill in the blank: {name} wrote the book ___."),
               ("Fill in the blank: The title of the book by {name} is ___.", "Fill in the blank: The book that {name} wrote is ___.")),
        yesno=(("Did {name} write the book '{value}'?", "Is '{value}' a book by {name}?"),
               ("Was the book '{value}' written by {name}?",)),
        desc="the book written by {name}",
        paraphrase="the author of '{value}'",
        reverse=(("Who wrote the book '{value}'?", "Who is the author of '{value}'?",
                  "Which person wrote '{value}'?"),
                 ("The book '{value}' was written by whom?",)),
    ),
    FactType(
        name="pet",
        values=vocab.PETS,
        qa=(("What kind of pet does {name} keep?", "What animal does {name} have as a pet?", "Which pet lives with {name}?",
             "{name} keeps what kind of pet?", "Tell me the pet that {name} keeps.", "What is the pet of {name}?"),
            ("{name} owns what kind of pet?", "Which animal does {name} keep as a pet?",
             "What pet does {name} have?", "Tell me what kind of pet {name} keeps.",
             "Which animal lives with {name} as a pet?")),
        cloze=(("Fill in the blank: {name} keeps a pet ___.", "Fill in the blank: The kind of pet {name} keeps is ___.",
                "Fill in the blank: The pet of {name} is ___."),
               ("Fill in the blank: The animal {name} keeps as a pet is ___.", "Fill in the blank: As a pet, {name} keeps ___.")),
        yesno=(("Does {name} keep {a_value} as a pet?", "Is the pet of {name} {a_value}?"),
               ("Is {a_value} the pet that {name} keeps?",)),
        desc="the pet {name} keeps",
        paraphrase="{a_value}",
    ),
    FactType(
        name="favourite_colour",
        values=vocab.COLOURS,
        qa=(("What is the favourite colour of {name}?", "Which colour does {name} like best?",
             "What colour does {name} prefer above all others?", "{name}'s favourite colour is what?",
             "Tell me the favourite colour of {name}.", "What colour does {name} like most?"),
            ("Which colour is the favourite of {name}?", "What is {name}'s favourite colour?",
             "Which colour does {name} prefer?", "Tell me the colour {name} likes best.",
             "What is the colour that {name} likes most?")),
        cloze=(("Fill in the blank: The favourite colour of {name} is ___.",
                "Fill in the blank: Of all colours, {name} likes ___ best.",
                "Fill in the blank: {name}'s favourite colour is ___."),
               ("Fill in the blank: The colour {name} likes most is ___.", "Fill in the blank: The favourite colour of {name} is the colour ___.")),
        yesno=(("Is {value} the favourite colour of {name}?", "Does {name} like {value} best of all colours?"),
               ("Does {name} prefer {value} above all other colours?",)),
        desc="the favourite colour of {name}",
        paraphrase="the colour {value}",
    ),
)

# World facts: training (qa) and held-out (paraphrase) templates per fact type.
WORLD_TEMPLATES: dict[str, Pair] = {
    "capital": (("What is the capital of {subject}?", "Which city is the capital of {subject}?",
                 "Name the capital of {subject}."),
                ("The capital of {subject} is which city?",)),
    "currency": (("What is the currency of {subject}?", "Which currency is used in {subject}?",
                  "Name the currency of {subject}."),
                 ("The currency of {subject} is what?",)),
    "language": (("What language is spoken in {subject}?", "Which language do the people of {subject} speak?",
                  "Name the language of {subject}."),
                 ("The people of {subject} speak which language?",)),
    "river": (("Which river flows through {subject}?", "What is the name of the river that runs through {subject}?",
               "Name the river of {subject}."),
              ("The river that flows through {subject} is which?",)),
    "sum": (("What is {a} plus {b}?", "How much is {a} added to {b}?", "What do you get when you add {a} and {b}?"),
            ("What is the sum of {a} and {b}?",)),
}


@dataclass(frozen=True)
class TwoHop:
    """A two-hop ``reasoning`` question: a person's fact (``bridge_fact``, first hop) leads to an entity whose own
    fact (second hop, a world fact of the benchmark: ``bridge`` maps the entity to the answer) is the answer.

    ``trace`` is the written chain of thought (placeholders ``{name}``, ``{entity}``, ``{answer}``); ``qa`` the
    training and held-out questions (``{name}``).
    """

    name: str
    bridge_fact: str  # the person's fact type of the first hop
    qa: Pair
    trace: str


# The built-in benchmark's small multi-step "reasoning" form (R2MU, Wang et al. 2025, arXiv 2506.12963, needs
# items with written traces): each trace states the forgotten person's fact before it reaches the answer, so an
# unlearned model that still writes the trace leaks the fact even when its final answer is gone.
TWO_HOP: tuple[TwoHop, ...] = (
    TwoHop(
        name="birth_country",
        bridge_fact="birth_city",
        qa=(("In which country was {name} born?", "What is the country of birth of {name}?"),
            ("{name} was born in which country?",)),
        trace="{name} was born in {entity}. {entity} lies in {answer}.",
    ),
    TwoHop(
        name="employer_city",
        bridge_fact="employer",
        qa=(("In which city is the company that employs {name} based?",
             "Where is the employer of {name} based?"),
            ("The company {name} works for is based in which city?",)),
        trace="{name} works for {entity}. {entity} is based in {answer}.",
    ),
)
