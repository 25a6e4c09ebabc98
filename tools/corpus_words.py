"""Word lists for the built-in corpus: semantic categories, verbs, and gradable adjectives.

Pure data. Every category is a tuple of lower-case nouns or adjectives (proper names keep their
capitals); templates refer to a category by its key, e.g. ``{animal}`` or ``{fruit:pl}``.
Names of people and places live in `tools.corpus_names`.
"""

from __future__ import annotations


def _w(text: str) -> tuple[str, ...]:
    """Split a comma-separated list into a tuple of stripped, non-empty words."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


CATEGORIES: dict[str, tuple[str, ...]] = {
    # --- living things ---------------------------------------------------------------------------
    "animal": _w(
        "dog, cat, horse, cow, sheep, goat, pig, rabbit, mouse, fox, wolf, bear, deer, lion, tiger,"
        "elephant, giraffe, zebra, monkey, gorilla, kangaroo, koala, panda, camel, hedgehog, squirrel,"
        "otter, badger, beaver, moose, bison, leopard, cheetah, hippo, rhino, donkey, llama, raccoon,"
        "bat, hamster, lynx, mole, ferret, chipmunk, sloth, armadillo, porcupine, jaguar, yak"
    ),
    "bird": _w(
        "sparrow, robin, eagle, owl, parrot, penguin, crow, swan, duck, goose, pigeon, hawk, falcon,"
        "heron, flamingo, peacock, woodpecker, seagull, hummingbird, ostrich, pelican, canary, magpie,"
        "raven, kingfisher, stork, blackbird, wren, finch, vulture, albatross, toucan, cuckoo"
    ),
    "sea_creature": _w(
        "whale, dolphin, shark, octopus, jellyfish, crab, lobster, salmon, tuna, cod, trout, seal,"
        "starfish, squid, shrimp, oyster, eel, sardine, turtle, walrus, seahorse, clam, stingray,"
        "mackerel, herring, manatee, sea lion, mussel, anchovy, barracuda"
    ),
    "insect": _w(
        "ant, bee, wasp, butterfly, moth, beetle, ladybird, mosquito, fly, grasshopper, cricket,"
        "dragonfly, spider, caterpillar, termite, flea, snail, worm, cockroach, firefly, bumblebee,"
        "hornet, centipede, scorpion, slug, tick, locust, aphid"
    ),
    "dog_breed": _w(
        "poodle, beagle, labrador, dachshund, collie, greyhound, bulldog, terrier, spaniel, husky,"
        "chihuahua, corgi, dalmatian, boxer, pug, retriever, sheepdog, whippet, mastiff, schnauzer"
    ),
    "tree": _w(
        "oak, pine, birch, maple, willow, elm, beech, cedar, palm, cypress, ash, chestnut, spruce, fir,"
        "redwood, baobab, eucalyptus, sycamore, poplar, yew, olive tree, apple tree, cherry tree,"
        "magnolia, acacia, hazel, larch, juniper"
    ),
    "flower": _w(
        "rose, tulip, daisy, lily, orchid, sunflower, daffodil, poppy, violet, jasmine, dandelion,"
        "marigold, iris, peony, carnation, lotus, bluebell, hibiscus, chrysanthemum, geranium,"
        "snowdrop, buttercup, primrose, foxglove, dahlia, forget-me-not, camellia, crocus"
    ),
    "plant": _w(
        "fern, moss, ivy, cactus, bamboo, grass, reed, seaweed, clover, thistle, nettle, heather, vine,"
        "shrub, hedge, weed, herb, lichen, aloe, succulent, bonsai, mushroom, algae, bracken"
    ),
    "mythical": _w(
        "dragon, unicorn, mermaid, griffin, phoenix, troll, goblin, elf, fairy, giant, wizard, witch,"
        "vampire, werewolf, ghost, centaur, kraken, sphinx, yeti, gnome, ogre, pixie, minotaur"
    ),
    # --- food and drink --------------------------------------------------------------------------
    "fruit": _w(
        "apple, banana, orange, pear, grape, cherry, strawberry, blueberry, raspberry, lemon, lime,"
        "mango, pineapple, peach, plum, apricot, watermelon, melon, kiwi, papaya, fig, pomegranate,"
        "coconut, avocado, grapefruit, blackberry, nectarine, lychee, tangerine, gooseberry, guava,"
        "passion fruit, cranberry, quince, persimmon"
    ),
    "vegetable": _w(
        "carrot, potato, tomato, onion, cabbage, lettuce, cucumber, pepper, pea, bean, leek, celery,"
        "courgette, aubergine, pumpkin, radish, beetroot, turnip, cauliflower, asparagus, mushroom,"
        "parsnip, sweet potato, broccoli, spinach, kale, garlic, sweetcorn, artichoke, squash, okra,"
        "chilli, shallot, yam, fennel"
    ),
    "dish": _w(
        "soup, stew, curry, pizza, sandwich, burger, salad, omelette, pie, risotto, lasagne, taco,"
        "burrito, dumpling, pancake, waffle, casserole, kebab, paella, quiche, goulash, biryani,"
        "noodle soup, fish pie, stir-fry, jambalaya, moussaka, ratatouille, tagine, pad thai,"
        "shepherd's pie, falafel wrap, dal, chowder, gumbo, frittata, enchilada, samosa, spring roll"
    ),
    "drink": _w(
        "tea, coffee, milk, water, orange juice, lemonade, cocoa, wine, beer, cider, smoothie,"
        "milkshake, espresso, soda, hot chocolate, kombucha, lassi, mint tea, sparkling water, iced tea,"
        "green tea, apple juice, ginger beer, cappuccino, latte, herbal tea, mango juice, coconut water"
    ),
    "dessert": _w(
        "cake, cookie, biscuit, muffin, croissant, brownie, cupcake, doughnut, tart, pudding, scone,"
        "bagel, pretzel, cheesecake, ice cream, custard, sorbet, trifle, macaron, crème brûlée,"
        "apple crumble, baklava, tiramisu, pavlova, churro, flapjack, gingerbread, meringue, fudge"
    ),
    "ingredient": _w(
        "flour, sugar, butter, salt, rice, cheese, oil, honey, vinegar, yeast, cream, yogurt, chocolate,"
        "vanilla, lentils, chickpeas, oats, bread, pasta, tofu, chicken, beef, lamb, pork, fish, eggs,"
        "milk, stock, breadcrumbs, coconut milk, soy sauce, mustard, almonds, walnuts, raisins"
    ),
    "spice": _w(
        "cinnamon, cumin, paprika, turmeric, nutmeg, ginger, basil, oregano, thyme, rosemary, parsley,"
        "mint, coriander, saffron, cardamom, cloves, chilli flakes, dill, sage, bay leaves, black pepper,"
        "star anise, fennel seeds, chives, tarragon, allspice"
    ),
    "taste": _w(
        "sweet, sour, bitter, salty, spicy, bland, savoury, tangy, smoky, rich, zesty, fruity, nutty,"
        "creamy, crunchy, crispy, juicy, tender, chewy, fluffy, sticky, greasy, fresh, stale, ripe,"
        "delicious, tasty, mild, peppery, sugary"
    ),
    "kitchen_item": _w(
        "pan, pot, kettle, spoon, fork, plate, bowl, cup, mug, glass, jug, teapot, ladle, whisk,"
        "spatula, colander, grater, oven, fridge, toaster, blender, microwave, rolling pin,"
        "chopping board, sieve, tray, baking tin, peeler, corkscrew, frying pan, saucepan, tea towel"
    ),
    # --- people ----------------------------------------------------------------------------------
    "profession": _w(
        "teacher, doctor, nurse, engineer, farmer, baker, chef, pilot, lawyer, architect, plumber,"
        "electrician, carpenter, journalist, librarian, dentist, pharmacist, firefighter,"
        "police officer, scientist, programmer, accountant, musician, painter, photographer, mechanic,"
        "tailor, gardener, vet, surgeon, professor, cashier, waiter, bus driver, fisherman, translator,"
        "designer, astronaut, economist, banker, judge, sailor, poet, novelist, actor, dancer, midwife,"
        "butcher, potter, blacksmith, receptionist, shopkeeper, zookeeper, lifeguard, beekeeper,"
        "optician, geologist, historian, nanny, courier, locksmith, florist, editor, surveyor"
    ),
    "family": _w(
        "mother, father, sister, brother, grandmother, grandfather, aunt, uncle, cousin, niece, nephew,"
        "daughter, son, wife, husband, stepmother, stepfather, granddaughter, grandson, mother-in-law,"
        "father-in-law, godmother, godfather, twin, half-brother, half-sister, great-aunt, mum, dad"
    ),
    "body_part": _w(
        "head, hand, arm, leg, foot, knee, elbow, shoulder, neck, back, finger, thumb, toe, ear, eye,"
        "nose, mouth, tooth, tongue, lip, chin, cheek, forehead, wrist, ankle, hip, heart, lung,"
        "stomach, liver, brain, skin, bone, muscle, spine, throat, eyebrow, heel, palm, kidney, jaw"
    ),
    "illness": _w(
        "cold, flu, fever, cough, headache, toothache, sore throat, rash, allergy, infection, asthma,"
        "migraine, measles, chickenpox, sprained ankle, broken wrist, sunburn, hiccups, insomnia,"
        "bronchitis, tonsillitis, food poisoning, earache, backache, hay fever, blister"
    ),
    "medical_item": _w(
        "bandage, plaster, thermometer, stethoscope, syringe, pill, ointment, crutch, wheelchair,"
        "stretcher, X-ray, vaccine, prescription, antibiotic, inhaler, splint, sling, cough syrup,"
        "eye drops, first-aid kit"
    ),
    "emotion": _w(
        "happy, sad, angry, afraid, nervous, excited, calm, proud, ashamed, jealous, lonely, grateful,"
        "surprised, bored, anxious, cheerful, furious, hopeful, relieved, disappointed, embarrassed,"
        "curious, confused, delighted, miserable, content, frustrated, thrilled, worried, homesick,"
        "amazed, guilty, restless, exhausted, overjoyed, puzzled, terrified, upset"
    ),
    "feeling": _w(
        "joy, anger, fear, sadness, pride, shame, envy, gratitude, surprise, boredom, anxiety, hope,"
        "relief, disappointment, love, grief, delight, curiosity, loneliness, nostalgia, regret,"
        "excitement, embarrassment, jealousy, contentment, frustration, awe, panic"
    ),
    "trait": _w(
        "kind, brave, shy, honest, clever, lazy, patient, generous, stubborn, polite, rude, funny,"
        "serious, loyal, gentle, modest, ambitious, careful, clumsy, wise, friendly, grumpy, reliable,"
        "creative, quiet, bossy, sensible, thoughtful, cautious, cheerful, forgetful, talkative,"
        "impatient, reckless, humble, curious, charming, mischievous"
    ),
    # --- things ----------------------------------------------------------------------------------
    "tool": _w(
        "hammer, screwdriver, wrench, saw, drill, chisel, spanner, axe, shovel, rake, hoe, ladder,"
        "tape measure, spirit level, file, sander, crowbar, mallet, trowel, knife, needle, clamp,"
        "paintbrush, soldering iron, pickaxe, wheelbarrow, torch, vice, pocketknife, sledgehammer,"
        "watering can, pitchfork, stapler gun, glue gun"
    ),
    "vehicle": _w(
        "car, bus, train, bicycle, motorcycle, truck, van, taxi, tram, boat, ship, ferry, plane,"
        "helicopter, scooter, tractor, ambulance, submarine, canoe, yacht, lorry, minibus, rickshaw,"
        "sledge, hot-air balloon, caravan, rocket, skateboard, fire engine, kayak, glider, hovercraft,"
        "motorboat, tandem, steam engine, cable car"
    ),
    "clothing": _w(
        "shirt, T-shirt, dress, skirt, jacket, coat, sweater, jumper, scarf, hat, cap, glove, sock,"
        "shoe, boot, sandal, belt, tie, blouse, hoodie, raincoat, apron, uniform, vest, waistcoat,"
        "cardigan, overcoat, beret, kimono, sari, poncho, bow tie, slipper, tracksuit, swimsuit,"
        "bathrobe, helmet, trainer"
    ),
    "furniture": _w(
        "chair, table, sofa, bed, desk, wardrobe, bookshelf, cupboard, armchair, stool, bench, drawer,"
        "dresser, mirror, lamp, rug, cabinet, cot, bunk bed, rocking chair, couch, ottoman, sideboard,"
        "coat rack, hammock, footstool, filing cabinet, dining table"
    ),
    "room": _w(
        "kitchen, bedroom, bathroom, living room, dining room, hallway, attic, cellar, basement, study,"
        "pantry, balcony, porch, nursery, laundry room, conservatory, loft, staircase, garden shed,"
        "playroom, utility room, spare room"
    ),
    "building": _w(
        "library, museum, hospital, school, bank, church, mosque, temple, synagogue, railway station,"
        "airport, market, post office, cinema, theatre, stadium, park, factory, castle, lighthouse,"
        "bridge, harbour, supermarket, restaurant, café, hotel, university, town hall, police station,"
        "zoo, farm, gym, garage, warehouse, cathedral, palace, tower, swimming pool, fire station,"
        "bus station, petrol station, concert hall, aquarium, windmill, skyscraper, cottage, barn"
    ),
    "shop": _w(
        "bakery, butcher's, greengrocer's, bookshop, florist's, chemist's, hardware shop, toy shop,"
        "newsagent's, jeweller's, shoe shop, fishmonger's, corner shop, charity shop, antique shop,"
        "record shop, bicycle shop, sweet shop, delicatessen, launderette, barber's, hairdresser's"
    ),
    "material": _w(
        "wood, glass, steel, iron, copper, plastic, cotton, wool, silk, leather, paper, cardboard,"
        "stone, brick, concrete, marble, clay, rubber, linen, velvet, granite, bronze, porcelain,"
        "ceramic, nylon, denim, aluminium, tin, cork, wax, canvas, felt, slate"
    ),
    "element": _w(
        "hydrogen, oxygen, carbon, nitrogen, helium, iron, gold, silver, sodium, calcium, potassium,"
        "uranium, neon, chlorine, zinc, mercury, magnesium, lithium, sulfur, phosphorus, platinum,"
        "argon, cobalt, nickel, titanium, lead, tungsten, iodine, silicon, copper"
    ),
    "gem": _w(
        "diamond, ruby, emerald, sapphire, pearl, opal, amethyst, topaz, jade, garnet, onyx, quartz,"
        "turquoise, amber, aquamarine, moonstone, coral, obsidian"
    ),
    "jewellery": _w(
        "ring, necklace, bracelet, earring, brooch, pendant, watch, locket, tiara, anklet, cufflink,"
        "chain, bangle, crown, medallion, hairpin"
    ),
    "container": _w(
        "box, bag, basket, bottle, jar, can, bucket, barrel, crate, suitcase, envelope, tin, carton,"
        "pouch, sack, chest, vase, tub, flask, backpack, lunchbox, purse, wallet, trunk, parcel, tube"
    ),
    "toy": _w(
        "doll, kite, teddy bear, ball, puzzle, yo-yo, spinning top, marble, toy train, robot,"
        "rocking horse, jigsaw, puppet, action figure, whistle, balloon, frisbee, skipping rope,"
        "water pistol, toy soldier, dollhouse, rubber duck, kaleidoscope, hula hoop"
    ),
    "stationery": _w(
        "pencil, pen, eraser, ruler, notebook, stapler, crayon, marker, calculator, textbook,"
        "glue stick, sharpener, compass, highlighter, folder, paper clip, sticky note, chalk,"
        "whiteboard, clipboard, diary, fountain pen, envelope, protractor"
    ),
    "instrument": _w(
        "piano, guitar, violin, cello, flute, trumpet, drum, saxophone, clarinet, harp, accordion,"
        "banjo, ukulele, oboe, trombone, tuba, harmonica, bagpipes, mandolin, xylophone, sitar, organ,"
        "double bass, bassoon, tambourine, recorder, french horn, bongo, keyboard, lute, didgeridoo"
    ),
    "computing": _w(
        "computer, laptop, keyboard, screen, server, database, website, browser, password, algorithm,"
        "spreadsheet, router, printer, file, folder, app, cloud, processor, memory, network, bug,"
        "compiler, function, variable, loop, array, string, pixel, byte, smartphone, tablet, webcam,"
        "hard drive, USB stick, operating system, firewall, search engine, cursor, icon, download"
    ),
    "programming_language": _w(
        "Python, JavaScript, Rust, Go, C, C++, Java, Haskell, Ruby, Kotlin, Swift, SQL, Lua, Perl,"
        "TypeScript, Fortran, COBOL, Lisp, Julia, R, Scala, Erlang, OCaml, PHP, Bash"
    ),
    "shape": _w(
        "circle, square, triangle, rectangle, oval, diamond, star, hexagon, pentagon, octagon, cube,"
        "sphere, cone, cylinder, pyramid, spiral, arc, crescent, heart, trapezium, prism, zigzag"
    ),
    "colour": _w(
        "red, blue, green, yellow, orange, purple, pink, brown, black, white, grey, silver, gold,"
        "crimson, scarlet, turquoise, violet, indigo, beige, maroon, navy, teal, lavender, amber,"
        "olive, ivory, magenta, cyan, emerald, charcoal, cream, rust, mustard, lilac, coral, khaki"
    ),
    # --- nature, places, time -------------------------------------------------------------------
    "weather": _w(
        "rain, snow, sunshine, fog, wind, hail, thunder, lightning, drizzle, sleet, frost, mist, storm,"
        "heatwave, blizzard, showers, cloud, humidity, breeze, gale, drought, hurricane, tornado,"
        "rainbow, monsoon, dew, thunderstorm, cold snap"
    ),
    "weather_adj": _w(
        "sunny, rainy, cloudy, windy, foggy, stormy, snowy, humid, chilly, freezing, mild, warm, hot,"
        "cold, damp, dry, overcast, misty, icy, breezy, grey, muggy, frosty, bright, gloomy"
    ),
    "landform": _w(
        "mountain, river, lake, valley, hill, forest, desert, ocean, sea, island, beach, cliff, canyon,"
        "glacier, volcano, waterfall, meadow, swamp, marsh, cave, bay, peninsula, plateau, prairie,"
        "jungle, stream, pond, dune, fjord, reef, delta, gorge, lagoon, coast, tundra, moor, oasis"
    ),
    "space": _w(
        "comet, asteroid, galaxy, nebula, star, meteor, satellite, black hole, constellation, eclipse,"
        "moon, planet, supernova, orbit, space station, telescope, solar system, quasar, meteorite"
    ),
    "planet": _w("Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune"),
    "direction": _w(
        "north, south, east, west, northeast, northwest, southeast, southwest, north-northeast,south-southwest"
    ),
    "month": _w("January, February, March, April, May, June, July, August, September, October, November,December"),
    "weekday": _w("Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday"),
    "season": _w("spring, summer, autumn, winter"),
    "time_of_day": _w(
        "morning, afternoon, evening, night, dawn, dusk, midnight, noon, sunrise, sunset, lunchtime,"
        "teatime, daybreak, twilight"
    ),
    "holiday": _w(
        "Christmas, New Year's Eve, Easter, Diwali, Eid, Hanukkah, Thanksgiving, Halloween,"
        "Lunar New Year, Carnival, Ramadan, Passover, Midsummer, Valentine's Day, Holi, Bastille Day,"
        "the Day of the Dead, Guy Fawkes Night, Boxing Day, Labour Day, Mother's Day, Nowruz"
    ),
    # --- activities ------------------------------------------------------------------------------
    "sport": _w(
        "football, tennis, basketball, cricket, rugby, golf, swimming, cycling, running, boxing, skiing,"
        "hockey, volleyball, baseball, badminton, table tennis, surfing, rowing, sailing, climbing,"
        "judo, karate, fencing, gymnastics, archery, wrestling, ice skating, snowboarding, handball,"
        "netball, water polo, squash, darts, snooker, lacrosse, triathlon, canoeing"
    ),
    "sport_term": _w(
        "goal, match, referee, score, team, tournament, league, coach, championship, medal, trophy,"
        "stadium, penalty, half-time, final, season, record, captain, substitute, opponent, victory,"
        "defeat, draw, semi-final, warm-up, training session, scoreboard, podium"
    ),
    "game": _w(
        "chess, draughts, poker, bridge, sudoku, dominoes, Scrabble, Monopoly, backgammon, mahjong,"
        "hide-and-seek, tag, charades, bingo, solitaire, snakes and ladders, hopscotch, tic-tac-toe,"
        "Go, cribbage"
    ),
    "hobby": _w(
        "knitting, gardening, fishing, painting, photography, pottery, baking, hiking, birdwatching,"
        "stamp collecting, origami, calligraphy, juggling, embroidery, woodworking, sewing, dancing,"
        "singing, camping, stargazing, beekeeping, jogging, rock climbing, chess, reading,"
        "model building, crochet, archery, yoga, journaling, cooking, kayaking, skateboarding"
    ),
    "music_genre": _w(
        "jazz, blues, rock, pop, hip hop, reggae, folk, classical music, opera, techno, country music,"
        "punk, soul, funk, salsa, samba, flamenco, gospel, heavy metal, disco, bluegrass, K-pop,"
        "ambient music, bossa nova, afrobeat, tango, swing, grunge"
    ),
    "music_term": _w(
        "melody, chorus, rhythm, tempo, harmony, lyrics, verse, chord, scale, note, beat, bass line,"
        "solo, duet, choir, orchestra, band, concert, album, single, encore, rehearsal, refrain,"
        "crescendo, overture, symphony"
    ),
    "art": _w(
        "novel, poem, painting, sculpture, symphony, film, play, photograph, song, sonnet, portrait,"
        "mural, ballet, opera, documentary, comic, short story, essay, haiku, sketch, novella, musical,"
        "landscape, still life, tapestry, mosaic, fresco, memoir"
    ),
    "book_genre": _w(
        "mystery, thriller, romance, fantasy, science fiction, horror, biography, memoir, poetry,"
        "travel writing, satire, fairy tale, detective story, adventure story, western, graphic novel,"
        "cookbook, historical novel, ghost story, self-help book, picture book"
    ),
    "subject": _w(
        "mathematics, physics, chemistry, biology, history, geography, literature, philosophy,"
        "economics, music, art, psychology, sociology, astronomy, geology, linguistics,"
        "computer science, engineering, medicine, law, architecture, statistics, anthropology,"
        "ecology, politics, drama, archaeology, botany, zoology, Latin"
    ),
    "science_term": _w(
        "atom, molecule, cell, gene, protein, energy, gravity, magnet, electron, photon, experiment,"
        "hypothesis, theory, microscope, laboratory, fossil, bacterium, virus, enzyme, wavelength,"
        "particle, reaction, acid, crystal, neuron, chromosome, isotope, catalyst, circuit, battery,"
        "lens, prism, vaccine, species, ecosystem"
    ),
    "legal_term": _w(
        "court, jury, verdict, trial, witness, evidence, sentence, appeal, fine, bail, contract,"
        "lawsuit, warrant, alibi, testimony, defendant, prosecutor, suspect, judge, will, licence,"
        "patent, copyright, fraud, theft, burglary, robbery, vandalism, forgery, smuggling"
    ),
    "politics": _w(
        "election, parliament, minister, president, mayor, senator, vote, ballot, campaign, policy,"
        "law, referendum, council, debate, treaty, budget, tax, reform, coalition, opposition,"
        "governor, candidate, constitution, embassy, ambassador, protest, petition, manifesto"
    ),
    "finance": _w(
        "loan, mortgage, interest rate, savings account, invoice, receipt, salary, pension, share,"
        "stock market, inflation, profit, loss, debt, credit card, bank account, refund, deposit,"
        "investment, dividend, bond, budget, wage, bonus, discount, exchange rate, overdraft, cheque"
    ),
    "currency": _w(
        "dollar, euro, pound, yen, rupee, peso, franc, krona, rand, yuan, won, real, dirham, lira,"
        "shilling, naira, zloty, baht, ringgit, dinar"
    ),
    "unit": _w(
        "metre, kilometre, centimetre, millimetre, mile, inch, yard, gram, kilogram, ounce, litre,"
        "millilitre, gallon, pint, cup, teaspoon, tablespoon, hectare, acre, tonne, second, minute,"
        "hour, day, week, month, year, decade, century"
    ),
    "farm": _w(
        "barn, plough, haystack, orchard, field, fence, gate, stable, silo, scarecrow, henhouse,"
        "pigsty, pasture, well, windmill, seed, harvest, crop, greenhouse, vineyard, beehive, trough,"
        "hay bale, combine harvester, vegetable patch"
    ),
    "crop": _w(
        "wheat, barley, oats, rice, maize, rye, soybeans, cotton, sugar cane, tea, coffee, cocoa,"
        "sunflowers, potatoes, grapes, olives, hops, flax, millet, sorghum"
    ),
    "sound": _w(
        "bang, crash, buzz, hiss, roar, whistle, click, thud, splash, creak, rumble, chirp, howl, purr,"
        "squeak, rustle, tick, ding, boom, clang, sizzle, drip, hum, thump, crackle, jingle, murmur,"
        "screech, pop, rattle"
    ),
    "transport_word": _w(
        "ticket, platform, timetable, passenger, luggage, boarding pass, seat belt, traffic jam,"
        "roundabout, motorway, junction, pedestrian crossing, car park, departure gate, conductor,"
        "fare, delay, connection, terminal, runway, cabin, deck, cycle lane, bus stop"
    ),
    "household": _w(
        "towel, pillow, blanket, curtain, candle, clock, key, umbrella, broom, mop, vacuum cleaner,"
        "doorbell, light bulb, remote control, radiator, washing machine, dustbin, ironing board,"
        "photo frame, alarm clock, sponge, soap, toothbrush, comb, hairdryer, calendar, doormat"
    ),
}
"""Semantic categories, each a tuple of member words or phrases."""

ADJECTIVE_CATEGORIES: frozenset[str] = frozenset({"colour", "emotion", "trait", "taste", "weather_adj"})
"""Categories whose members are adjectives (never pluralised)."""

UNCOUNTABLE: frozenset[str] = frozenset(
    _w(
        "sheep, deer, salmon, tuna, cod, trout, shrimp, bison, moose, squid, mackerel, herring,"
        "broccoli, spinach, kale, garlic, celery, asparagus, sweetcorn, okra, fennel, bamboo, moss,"
        "ivy, grass, heather, algae, bracken, seaweed, clover, tea, coffee, milk, water, cocoa, wine,"
        "beer, cider, soda, hot chocolate, kombucha, lassi, mint tea, sparkling water, iced tea,"
        "green tea, orange juice, apple juice, mango juice, ginger beer, herbal tea, coconut water,"
        "ice cream, custard, sorbet, fudge, gingerbread, baklava, tiramisu, flour, sugar, butter,"
        "salt, rice, cheese, oil, honey, vinegar, yeast, cream, yogurt, chocolate, vanilla, lentils,"
        "chickpeas, oats, bread, pasta, tofu, chicken, beef, lamb, pork, fish, eggs, stock, breadcrumbs,"
        "coconut milk, soy sauce, mustard, almonds, walnuts, raisins, wood, glass, steel, iron,"
        "copper, plastic, cotton, wool, silk, leather, paper, cardboard, stone, concrete, marble,"
        "clay, rubber, linen, velvet, granite, bronze, porcelain, aluminium, nylon, denim, wax,"
        "canvas, felt, slate, jade, amber, coral, obsidian, quartz, rain, snow, sunshine, fog, hail,"
        "thunder, lightning, drizzle, sleet, frost, mist, humidity, dew, wheat, barley, maize, rye,"
        "soybeans, millet, sorghum, hops, flax, sugar cane, jewellery, luggage, evidence, poetry,"
        "music, art, gravity, energy, mathematics, physics, athletics, news, bagpipes, chess, Go,"
        "cinnamon, cumin, paprika, turmeric, nutmeg, ginger, basil, oregano, thyme, rosemary, parsley,"
        "mint, coriander, saffron, cardamom, cloves, chilli flakes, dill, sage, bay leaves,"
        "black pepper, star anise, fennel seeds, chives, tarragon, allspice, hay, cork, tin, lead,"
        "furniture, homework, advice, spaghetti, porridge, toast, chowder, dal, goulash, paella, risotto,"
        "lasagne, stew, soup, curry, salad, stir-fry, jambalaya, moussaka, ratatouille, gumbo, pad thai,"
        "shepherd's pie, fish pie, noodle soup, noodles, espresso, cappuccino, latte, lemonade,"
        "smoothie, milkshake, trifle, cheesecake, crème brûlée, apple crumble, pavlova, meringue,"
        "shellfish, aircraft, offspring, series, species, hovercraft, yen, yuan, won, rand, baht,"
        "naira, cedi, birr, dong, rupiah, ringgit, złoty, tögrög, taka, lira, króna"
    )
)
"""Nouns whose plural is the word itself (mass nouns and zero-plural nouns)."""

IRREGULAR_PLURALS: dict[str, str] = {
    "mouse": "mice",
    "goose": "geese",
    "foot": "feet",
    "tooth": "teeth",
    "man": "men",
    "woman": "women",
    "child": "children",
    "person": "people",
    "ox": "oxen",
    "wolf": "wolves",
    "knife": "knives",
    "elf": "elves",
    "leaf": "leaves",
    "loaf": "loaves",
    "shelf": "shelves",
    "bookshelf": "bookshelves",
    "half": "halves",
    "calf": "calves",
    "life": "lives",
    "wife": "wives",
    "thief": "thieves",
    "scarf": "scarves",
    "cactus": "cacti",
    "fungus": "fungi",
    "bacterium": "bacteria",
    "phenomenon": "phenomena",
    "criterion": "criteria",
    "potato": "potatoes",
    "tomato": "tomatoes",
    "mosquito": "mosquitoes",
    "volcano": "volcanoes",
    "hero": "heroes",
    "echo": "echoes",
    "jellyfish": "jellyfish",
    "starfish": "starfish",
    "fish": "fish",
    "mother-in-law": "mothers-in-law",
    "father-in-law": "fathers-in-law",
    "passer-by": "passers-by",
    "fisherman": "fishermen",
    "postman": "postmen",
    "police officer": "police officers",
    "butcher's": "butchers",
    "greengrocer's": "greengrocers",
    "florist's": "florists",
    "chemist's": "chemists",
    "newsagent's": "newsagents",
    "jeweller's": "jewellers",
    "fishmonger's": "fishmongers",
    "barber's": "barbers",
    "hairdresser's": "hairdressers",
    "crisis": "crises",
    "analysis": "analyses",
    "thesis": "theses",
    "oasis": "oases",
    "index": "indices",
    "real": "reais",
    "krona": "kronor",
    "krone": "kroner",
    "sol": "soles",
    "leu": "lei",
    "koruna": "koruny",
}
"""Plurals that the regular spelling rules would get wrong."""

# Verbs as "base past ing" triples (the third-person -s form is derived by rule).
_VERBS = {
    "motion": (
        "walk walked walking, run ran running, jump jumped jumping, swim swam swimming,"
        "climb climbed climbing, crawl crawled crawling, fly flew flying, drive drove driving,"
        "ride rode riding, sail sailed sailing, skip skipped skipping, hop hopped hopping,"
        "march marched marching, wander wandered wandering, stroll strolled strolling,"
        "hurry hurried hurrying, dash dashed dashing, sprint sprinted sprinting, glide glided gliding,"
        "slide slid sliding, float floated floating, dive dived diving, skate skated skating,"
        "limp limped limping, tiptoe tiptoed tiptoeing, cycle cycled cycling, jog jogged jogging,"
        "travel travelled travelling, rush rushed rushing, creep crept creeping"
    ),
    "speech": (
        "say said saying, tell told telling, ask asked asking, whisper whispered whispering,"
        "shout shouted shouting, reply replied replying, explain explained explaining,"
        "argue argued arguing, complain complained complaining, announce announced announcing,"
        "mention mentioned mentioning, promise promised promising, admit admitted admitting,"
        "suggest suggested suggesting, insist insisted insisting, mutter muttered muttering,"
        "scream screamed screaming, laugh laughed laughing, sigh sighed sighing,"
        "agree agreed agreeing, joke joked joking, warn warned warning, repeat repeated repeating,"
        "answer answered answering, call called calling, murmur murmured murmuring,"
        "giggle giggled giggling, grumble grumbled grumbling, exclaim exclaimed exclaiming"
    ),
    "cook": (
        "chop chopped chopping, slice sliced slicing, dice diced dicing, boil boiled boiling,"
        "fry fried frying, bake baked baking, roast roasted roasting, grill grilled grilling,"
        "stir stirred stirring, whisk whisked whisking, mix mixed mixing, knead kneaded kneading,"
        "peel peeled peeling, grate grated grating, simmer simmered simmering, steam steamed steaming,"
        "season seasoned seasoning, pour poured pouring, melt melted melting, toast toasted toasting,"
        "drain drained draining, mash mashed mashing, marinate marinated marinating,"
        "blend blended blending, sprinkle sprinkled sprinkling, fold folded folding,"
        "brush brushed brushing, cool cooled cooling"
    ),
    "do": (
        "read read reading, write wrote writing, paint painted painting, build built building,"
        "fix fixed fixing, clean cleaned cleaning, wash washed washing, carry carried carrying,"
        "buy bought buying, sell sold selling, find found finding, lose lost losing,"
        "open opened opening, close closed closing, cook cooked cooking, eat ate eating,"
        "borrow borrowed borrowing, lend lent lending, visit visited visiting, watch watched watching,"
        "draw drew drawing, plant planted planting, pack packed packing, deliver delivered delivering,"
        "catch caught catching, throw threw throwing, break broke breaking, hide hid hiding,"
        "forget forgot forgetting, remember remembered remembering, repair repaired repairing,"
        "polish polished polishing, measure measured measuring, sketch sketched sketching,"
        "study studied studying, order ordered ordering, share shared sharing, keep kept keeping,"
        "bring brought bringing, choose chose choosing, teach taught teaching, feed fed feeding,"
        "photograph photographed photographing, collect collected collecting, wrap wrapped wrapping"
    ),
    "think": (
        "think thought thinking, believe believed believing, hope hoped hoping, wonder wondered wondering,"
        "know knew knowing, guess guessed guessing, realise realised realising, suspect suspected suspecting,"
        "doubt doubted doubting, imagine imagined imagining, decide decided deciding,"
        "notice noticed noticing, understand understood understanding, fear feared fearing"
    ),
}


def _verb_table(text: str) -> tuple[tuple[str, str, str], ...]:
    """Parse "base past ing, ..." into (base, past, ing) triples."""
    triples: list[tuple[str, str, str]] = []
    for item in _w(text):
        base, past, ing = item.split()
        triples.append((base, past, ing))
    return tuple(triples)


VERBS: dict[str, tuple[tuple[str, str, str], ...]] = {k: _verb_table(v) for k, v in _VERBS.items()}
"""Verb classes; each verb is (base, past, -ing form). Templates use e.g. ``{v_motion:past}``."""


def _grades(text: str) -> tuple[tuple[str, str, str], ...]:
    """Parse "big/bigger/biggest, ..." into (positive, comparative, superlative) triples."""
    triples: list[tuple[str, str, str]] = []
    for item in _w(text):
        pos, comp, sup = item.split("/")
        triples.append((pos, comp, sup))
    return tuple(triples)


GRADABLE: tuple[tuple[str, str, str], ...] = _grades(
    "big/bigger/biggest, small/smaller/smallest, tall/taller/tallest, short/shorter/shortest,"
    "old/older/oldest, young/younger/youngest, fast/faster/fastest, slow/slower/slowest,"
    "heavy/heavier/heaviest, light/lighter/lightest, cheap/cheaper/cheapest,"
    "expensive/more expensive/most expensive, good/better/best, bad/worse/worst,"
    "beautiful/more beautiful/most beautiful, strong/stronger/strongest, weak/weaker/weakest,"
    "bright/brighter/brightest, dark/darker/darkest, loud/louder/loudest, quiet/quieter/quietest,"
    "clever/cleverer/cleverest, famous/more famous/most famous, busy/busier/busiest,"
    "friendly/friendlier/friendliest, dangerous/more dangerous/most dangerous,"
    "warm/warmer/warmest, cold/colder/coldest, wide/wider/widest, deep/deeper/deepest,"
    "long/longer/longest, early/earlier/earliest, far/further/furthest, easy/easier/easiest,"
    "difficult/more difficult/most difficult, sweet/sweeter/sweetest, noisy/noisier/noisiest,"
    "comfortable/more comfortable/most comfortable, ancient/more ancient/most ancient,"
    "popular/more popular/most popular, curious/more curious/most curious, rare/rarer/rarest,"
    "tiny/tinier/tiniest, huge/huger/hugest, lucky/luckier/luckiest, happy/happier/happiest"
)
"""Adjectives with (positive, comparative, superlative) forms."""

CONDITION_ADJ: tuple[str, ...] = _w(
    "old, new, ancient, modern, broken, shiny, dusty, rusty, clean, dirty, empty, full, wet, dry,"
    "soft, hard, smooth, rough, heavy, light, bright, dark, narrow, wide, crowded, deserted, noisy,"
    "silent, tidy, messy, cosy, enormous, tiny, fragile, sturdy, elegant, shabby, colourful, faded,"
    "strange, ordinary, mysterious, famous, forgotten, secret, hidden, beautiful, ugly, expensive,"
    "cheap, handmade, second-hand, brand-new, antique, wooden, golden, crooked, spotless"
)
"""Descriptive adjectives for objects and places."""

ADVERBS: tuple[str, ...] = _w(
    "quickly, slowly, carefully, quietly, loudly, happily, sadly, suddenly, gently, angrily,"
    "patiently, eagerly, nervously, proudly, calmly, cheerfully, anxiously, politely, boldly,"
    "secretly, reluctantly, immediately, gradually, finally, cautiously, silently, briskly,"
    "clumsily, gracefully, wearily"
)
"""Manner adverbs."""

CONNECTIVES: tuple[str, ...] = _w(
    "However, Meanwhile, Later, Afterwards, Then, Suddenly, Eventually, At first, In the end,"
    "Fortunately, Unfortunately, Of course, Still, Besides, As a result, Even so, Soon,"
    "A moment later, That evening, The next day, Before long, Oddly enough, Luckily, Naturally"
)
"""Sentence-initial discourse connectives (already capitalised)."""
