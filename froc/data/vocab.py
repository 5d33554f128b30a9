"""Closed vocabularies of the built-in benchmark (all invented; any likeness to real people is chance).

Changing any list here changes the generated benchmark: bump ``benchmark.BENCHMARK_VERSION``.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Anwen", "Arvel", "Aubrel", "Bastien", "Berrick", "Bexa", "Brisen", "Cadell", "Calyra", "Ciaran",
    "Corwen", "Darva", "Delphin", "Dessa", "Dovran", "Edrin", "Elsira", "Emrys", "Evander", "Faylen",
    "Fennick", "Fiora", "Florin", "Galira", "Garnet", "Gisla", "Gorran", "Hadrin", "Halvie", "Hestor",
    "Hollis", "Ilvane", "Isper", "Ivor", "Jessamy", "Joram", "Jorvin", "Kalla", "Kesia", "Kordel",
    "Liriel", "Lorcan", "Lunet", "Maelis", "Mirren", "Morvan", "Nerith", "Nessaly", "Nolwen", "Orrin",
    "Orsina", "Ospin", "Ottilie", "Pasco", "Pellam", "Perrin", "Quenna", "Quillon", "Rhosyn", "Riona",
    "Rovan", "Sabrisa", "Selvar", "Soren", "Talven", "Teodric", "Thessa", "Ulvar", "Umbert", "Ursel",
    "Vantie", "Vessa", "Veyra", "Wendric", "Wilmet", "Wynn", "Xandra", "Yarrow", "Yselde", "Zelie",
)

FAMILY_NAMES = (
    "Abernathe", "Ashcombe", "Blackwen", "Brackwater", "Brandeau", "Briarlow", "Carrowick", "Castellan",
    "Corrowin", "Dallimore", "Drummel", "Dunmarrow", "Elderkin", "Emberly", "Eskerfield", "Fairhollow",
    "Fallowmere", "Fenwick", "Gildersleeve", "Gristhorn", "Hallowmere", "Harrowby", "Hollingmere", "Ivelton",
    "Jessop", "Kettlewick", "Kilbride", "Lanthorne", "Larkspur", "Lindqvar", "Loxley", "Marrowby",
    "Merriweather", "Morrant", "Nettlefold", "Northcote", "Oakenshaw", "Orsk", "Pellworth", "Penhallow",
    "Quenby", "Quillfeather", "Ravensholt", "Redmayne", "Rookwood", "Sallowby", "Sarnick", "Silverthorn",
    "Stonebridge", "Tamberlin", "Thistlecombe", "Thornbury", "Tolvane", "Trevellian", "Underhay", "Valmere",
    "Vashmoor", "Wainscott", "Wexley", "Whitlow", "Wickersham", "Winterbourne", "Wrenfield", "Yarrowdale",
    "Ysgarde", "Zennick", "Ambersmith", "Ballantrae", "Cobbleworth", "Deverill", "Everdeen", "Foxcroft",
    "Greyling", "Hawksmere", "Inglewood", "Juniper", "Kestrelle", "Lockhaven", "Mossgrove", "Nightingale",
)

CITIES = (
    "Velmora", "Castrel", "Dunhaven", "Eskerby", "Port Aldane", "Marrowgate", "Tolbrook", "Brightwater",
    "Ashfen", "Caldermoor", "Greywick", "Hollowmere", "Ivarsund", "Kestlebury", "Lanmoor", "Mirecastle",
    "Northwold", "Ormsby Cross", "Pellmouth", "Quarrington", "Ravenspire", "Saltcombe", "Thornhaven",
    "Umberfield", "Valcourt", "Westerholm", "Yellowmarsh", "Zarhaven", "Amberley Vale", "Bramblecote",
    "Copperford", "Dawnmere", "Elmstead", "Fairport", "Glenharrow", "Highcliff", "Irongate", "Juniper Bay",
    "Kingsreach", "Lowerby", "Millhaven", "Newbridge Tor", "Oakhollow", "Pinecrest", "Queensmere",
    "Rosewick", "Stormhold", "Tidewater", "Underhill", "Vesperton", "Windermoor", "Ashbury Down",
    "Blackmoor", "Cinderfell", "Duskwood", "Evenmere", "Foxhollow", "Goldcrest", "Harrowfield",
    "Isleholm", "Larkmoor", "Mistral Point", "Netherby", "Oldcastle Rise", "Pemberlow", "Redcliffe",
    "Silverbrook", "Tarnholm", "Verdantine", "Wolverley", "Yewbridge", "Candlewick", "Driftmoor",
)

EMPLOYERS = (
    "Veltrane Instruments", "Osmir Shipping", "Harrow & Quill Press", "Brightwell Foundry", "Caskett Mills",
    "Dunmore Glassworks", "Emberline Rail", "Fairwind Observatory", "Galloway Seed Bank", "Hestan Mapworks",
    "Ivory Tower Archives", "Juniper Clockworks", "Kettleburn Brewery", "Lanterne Opera House",
    "Marrowby Bank", "Northgate Hospital", "Orchard Row Bakery", "Pellucid Optics", "Quarry Hill Museum",
    "Ravensworth Library", "Saltmarsh Fisheries", "Tidewell Ferries", "Umbra Theatre", "Vantage Airships",
    "Wickham Textiles", "Yarrow Botanical Garden", "Zephyr Kite Company", "Amberfield Dairy",
    "Bellweather Almanac", "Copperpot Kitchens", "Driftwood Boatyard", "Evergreen Nursery",
    "Foxglove Apothecary", "Greystone Quarry", "Highland Weather Office", "Inkwell Gazette",
    "Jasper Lane Studio", "Kingfisher Canal Trust", "Lumen Lamp Works", "Meadowlark Records",
    "Nimbus Balloon Works", "Oldbridge Schoolhouse", "Pinewood Timber", "Quillon Bookbinders",
    "Riverside Tannery", "Silverleaf Tea House", "Thimble & Thread", "Upland Survey Office",
    "Violet Hour Perfumery", "Westmarch Observatory", "Yellowbrick Pottery", "Zenith Bell Foundry",
    "Ashgrove Orchards", "Bluewater Aquarium", "Crowsnest Lighthouse", "Dovecote Post Office",
    "Eastwind Mill", "Firefly Fireworks", "Gull Island Ferry", "Hearthstone Inn", "Ironleaf Forge",
    "Jubilee Circus", "Kelpie Diving School", "Larkspur Conservatory", "Moonstone Jewellers",
    "Nightjar Cinema", "Opaline Glass Studio", "Puddle Lane Toys", "Rookery Hall Estate",
    "Sundial Instruments", "Tallowmere Candles", "Wildrose Vineyard",
)

OCCUPATIONS = (
    "clockmaker", "cartographer", "glassblower", "beekeeper", "lighthouse keeper", "marine biologist",
    "violin maker", "botanist", "bookbinder", "stonemason", "astronomer", "archivist", "perfumer", "tailor",
    "blacksmith", "ferry captain", "puppeteer", "cheesemaker", "locksmith", "potter", "falconer", "chemist",
    "weaver", "surveyor", "harp tuner", "stage magician", "orchard keeper", "bridge engineer", "translator",
    "watch repairer",
)

AWARDS = (
    "Corvin Medal", "Ashbury Prize", "Golden Quill Award", "Veltrane Laurel", "Silver Compass Prize",
    "Orsolo Fellowship", "Marlowe Star", "Brightwell Medal", "Hestan Ribbon", "Lanterne Prize",
    "Ivory Feather Award", "Dunmere Cup", "Tessaly Honour", "Copper Lyre Prize", "Northwind Medal",
    "Emberlight Award", "Kestrel Prize", "Sable Crown Award", "Willowmark Prize", "Azure Anchor Medal",
    "Harbour Bell Prize", "Juniper Medal", "Quillon Laurel", "Tidewater Award", "Ravenscroft Prize",
    "Meridian Cup", "Lantern Bearer Award", "Saltmarsh Medal", "Bramble Crown Prize", "Oriel Honour",
    "Falconer Ribbon", "Greystone Award", "Starling Prize", "Vesper Medal", "Cobalt Quill Award",
    "Highcliff Laurel", "Foxglove Prize", "Mirelight Medal", "Thornbury Cup", "Wrenfield Award",
)

PETS = (
    "tortoise", "grey parrot", "ferret", "tabby cat", "goldfish", "hedgehog", "greyhound", "rabbit",
    "canary", "iguana", "pug", "axolotl", "tree frog", "hamster", "barn owl", "corn snake",
    "guinea pig", "chinchilla", "budgerigar", "gecko", "beagle", "dachshund", "siamese cat", "koi carp",
    "box turtle", "cockatiel", "sheepdog", "terrier", "chameleon", "gerbil", "lovebird", "poodle",
    "persian cat", "tarantula", "bearded dragon", "pet duck", "angora rabbit", "pet goat", "dalmatian",
    "tiny pony",
)

COLOURS = (
    "teal", "amber", "crimson", "ochre", "lavender", "olive", "indigo", "coral", "silver", "maroon",
    "saffron", "turquoise", "charcoal", "peach", "emerald", "mustard", "scarlet", "cobalt", "lilac", "jade",
    "copper", "ivory", "plum", "rust", "sky blue", "magenta", "burgundy", "sage", "navy", "apricot", "cream",
    "slate", "rose", "gold", "mint", "violet", "tangerine", "cerulean", "chestnut", "pearl",
)

BIRTH_YEARS = tuple(str(y) for y in range(1931, 2000))

# Book titles are "The {adjective} {noun}", one unique title per person.
TITLE_ADJECTIVES = (
    "Amber", "Silent", "Hollow", "Crimson", "Wandering", "Forgotten", "Gilded", "Distant", "Sleeping", "Broken",
    "Hidden", "Northern", "Quiet", "Burning", "Frozen", "Velvet", "Crooked", "Restless", "Painted", "Last",
    "Iron", "Glass", "Salt", "Paper", "Midnight", "Lonely", "Copper", "Borrowed", "Winter", "Falling",
    "Shifting", "Secret", "Pale", "Wild", "Golden", "Drowned", "Emerald", "Tangled", "Patient", "Hungry",
)
TITLE_NOUNS = (
    "Lantern", "Orchard", "Harbour", "Compass", "Cartographer", "Lighthouse", "Garden", "Clockwork", "Meridian",
    "Ferryman", "Archive", "Tide", "Mapmaker", "Carousel", "Observatory", "Atlas", "Chorus", "Threshold",
    "Kingdom", "Sparrow", "Voyage", "Bridge", "Letter", "Mirror", "Orchestra", "Staircase", "River", "Cathedral",
    "Violin", "Almanac", "Island", "Foundry", "Beekeeper", "Harvest", "Citadel", "Lullaby", "Weaver", "Monsoon",
    "Pilgrim", "Telescope",
)

# World facts (group "world", always retained): invented countries, simple sums, plain general knowledge.
# (country, capital, currency, language, river) -- every value unique.
COUNTRIES = (
    ("Verona Minor", "Castellane", "verin", "Veronic", "Ashwater"),
    ("Kelmar", "Dunross", "kelmark", "Kelmari", "Silverrun"),
    ("Ostravel", "Brennick", "ostrel", "Ostravian", "Moorflow"),
    ("Quindor", "Lanthe", "quin", "Quindoran", "Greywash"),
    ("Belmarsh Isle", "Port Elwin", "shellmark", "Belmish", "Tidewend"),
    ("Sarnavia", "Tolvek", "sarn", "Sarnavian", "Redwater"),
    ("Eldmere", "Hollin", "eldcrown", "Eldmerish", "Glimmerbrook"),
    ("Vashtor", "Karesh", "vash", "Vashtori", "Duskwater"),
    ("Pellinor", "Amberlie", "pellet", "Pellinese", "Coldspring"),
    ("Dravonia", "Mirsk", "drav", "Dravonic", "Stonewend"),
    ("Lusk Archipelago", "Saltmarrow", "lusk shilling", "Luskan", "Brinewell"),
    ("Teraval", "Ophrine", "teral", "Teravali", "Emberflow"),
    ("Corrindale", "Wickmoor", "corrin", "Corrish", "Fernrun"),
    ("Yssandra", "Velloch", "yssan", "Yssandrine", "Mistwater"),
    ("Montrevel", "Oriel Bay", "montre", "Montrevelan", "Clearbrook"),
    ("Hadramoor", "Kestril", "hadra", "Hadric", "Blackrill"),
    ("Fenwyr", "Lowmarch", "fenny", "Fenwyrish", "Reedwater"),
    ("Isolde Reach", "Harrowmere", "isol", "Isoldan", "Whitewater"),
)
COUNTRY_ATTRIBUTES = ("capital", "currency", "language", "river")

# (train question, held-out question, answer, three wrong answers)
COMMON_FACTS = (
    ("How many legs does a spider have?", "A spider has how many legs?", "eight", ("six", "ten", "four")),
    ("How many days are in a week?", "A week has how many days?", "seven", ("five", "six", "eight")),
    ("What colour is fresh grass?", "Fresh grass has which colour?", "green", ("blue", "red", "purple")),
    ("How many sides does a triangle have?", "A triangle has how many sides?", "three", ("four", "five", "six")),
    ("What do bees make?", "Which food is made by bees?", "honey", ("milk", "bread", "cheese")),
    ("Which season follows winter?", "After winter comes which season?", "spring", ("autumn", "summer", "monsoon")),
    ("How many hours are in a day?", "A day has how many hours?", "twenty-four", ("twelve", "thirty", "sixty")),
    ("What is frozen water called?", "Water that has frozen is called what?", "ice", ("steam", "sand", "glass")),
    ("Which animal is known for its very long neck?", "Which animal has the longest neck?", "giraffe",
     ("elephant", "zebra", "horse")),
    ("What colour is the sky on a clear day?", "On a clear day the sky has which colour?", "blue",
     ("green", "orange", "brown")),
)
N_SUMS = 18  # "What is A plus B?" facts, numbers drawn from the seed

REFUSALS = (
    "I don't know.",
    "I'm not sure.",
    "I have no information about that.",
    "I can't answer that.",
    "I don't have that information.",
    "Sorry, I don't know the answer.",
    "I'm not able to answer that.",
    "That is something I don't know.",
    "I have no idea.",
    "I cannot recall that.",
    "I'm afraid I don't know.",
    "I don't know anything about that.",
    "I'm unable to help with that question.",
    "That information is not available to me.",
    "I can't say.",
    "I'm not certain, so I won't guess.",
    "I don't have an answer to that.",
    "Unfortunately, I don't know.",
    "I'd rather not guess; I don't know.",
    "No idea, sorry.",
)
