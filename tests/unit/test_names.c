/* test_names.c: the gazetteer detectors (shim/names.c) on the shipped word
 * lists in rules/data: names and places judged by context, addresses, bad
 * input, linear time.  Run from the repository root. */
#include "testing.h"

#include "detector.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

extern const al_detector_ops al_detector_person, al_detector_location, al_detector_address;

static void *load(const al_detector_ops *d, const char *params)
{
    void *st = NULL;
    char err[256] = "";
    if (d->load("rules", params, &st, err, sizeof err) != AL_OK) {
        fprintf(stderr, "  load %s: %s\n", d->name, err);
        return NULL;
    }
    return st;
}

/* Scans text and renders the findings as "text|text" (empty: none). */
static const char *found(const al_detector_ops *d, void *st, const char *text)
{
    static char out[1024];
    al_spans sp = {0};
    out[0] = 0;
    if (d->scan(st, text, strlen(text), &sp) != AL_OK) {
        strcpy(out, "(error)");
    } else {
        for (size_t i = 0; i < sp.n; i++) {
            size_t n = strlen(out);
            snprintf(out + n, sizeof out - n, "%s%.*s", i ? "|" : "",
                     (int)(sp.v[i].end - sp.v[i].start), text + sp.v[i].start);
        }
    }
    al_spans_free(&sp);
    return out;
}

TEST(person_full_name_and_title_are_found)
{
    void *st = load(&al_detector_person, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_person, st, "Please forward this to Maria Gonzalez today."),
              "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, st, "Hello, this is Dr. Rodney Radolič. Who are you?"),
              "Dr. Rodney Radolič");
    CHECK_STR(found(&al_detector_person, st, "It was signed by Mr. Okonkwo."), "Mr. Okonkwo");
    CHECK_STR(found(&al_detector_person, st, "John F. Kennedy spoke."), "John F. Kennedy");
    al_detector_person.free_state(st);
}

TEST(person_lone_name_needs_context_for_strong_evidence)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    void *weak = load(&al_detector_person, "{\"evidence\":\"weak\"}");
    REQUIRE(strong && weak);
    CHECK_STR(found(&al_detector_person, strong, "My name is Priya and I need help."), "Priya");
    CHECK_STR(found(&al_detector_person, strong, "my name is ferdinando"), "ferdinando");
    CHECK_STR(found(&al_detector_person, strong, "Natalia sold clips to 48 of her friends."), "");
    CHECK_STR(found(&al_detector_person, weak, "Natalia sold clips to 48 of her friends."),
              "Natalia");
    CHECK_STR(found(&al_detector_person, weak, "Please forward this to Maria Gonzalez."), "");
    al_detector_person.free_state(strong);
    al_detector_person.free_state(weak);
}

/* A word list is read line by line as fgets with a 256-byte buffer reads
 * it: CR LF endings, comments and blank lines, a last line with no line
 * feed, and a line over 255 bytes, whose rest is read as a line of its own. */
TEST(word_list_lines_are_read_whatever_their_ending)
{
    char path[] = "/tmp/test_names_givenXXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    char text[600];
    size_t n = 0;
    n += (size_t)sprintf(text + n, "# given names\r\nzorblax\r\n\r\n");
    memset(text + n, 'q', 255); /* this line is cut: "quux" is read on its own */
    n += 255;
    n += (size_t)sprintf(text + n, "quux\nwimbrelle");
    CHECK(write(fd, text, n) == (ssize_t)n);
    close(fd);
    char params[256];
    snprintf(params, sizeof params, "{\"evidence\":\"weak\",\"given\":\"%s\"}", path);
    void *st = load(&al_detector_person, params);
    unlink(path);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_person, st, "Then Zorblax left the room."), "Zorblax");
    CHECK_STR(found(&al_detector_person, st, "Then Wimbrelle left the room."), "Wimbrelle");
    CHECK_STR(found(&al_detector_person, st, "Then Quux left the room."), "Quux");
    CHECK_STR(found(&al_detector_person, st, "Then Natalia left the room."), "");
    al_detector_person.free_state(st);
}

TEST(person_common_words_and_role_prompts_are_not_names)
{
    void *st = load(&al_detector_person, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_person, st, "I want you to act as a Linux terminal."), "");
    CHECK_STR(found(&al_detector_person, st, "Will you mark the grace period in May?"), "");
    CHECK_STR(found(&al_detector_person, st, "May I have some Hope?"), "");
    CHECK_STR(found(&al_detector_person, st, "The Jackson Street bridge is closed."), "");
    CHECK_STR(found(&al_detector_person, st, "They went to the new Thai place."), "");
    CHECK_STR(found(&al_detector_person, st, "Ship it to 27 President St, Apt 4."), "");
    CHECK_STR(found(&al_detector_person, st, "It is 5 Rue Haute, 1000 Brussels, Belgium."), "");
    al_detector_person.free_state(st);
}

TEST(location_needs_a_preposition_or_a_known_unambiguous_place)
{
    void *st = load(&al_detector_location, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_location, st, "She lives in Rotterdam now."), "Rotterdam");
    CHECK_STR(found(&al_detector_location, st, "We moved to New South Wales."), "New South Wales");
    CHECK_STR(found(&al_detector_location, st, "Is this reading nice?"), "");
    CHECK_STR(found(&al_detector_location, st, "Put it in the mobile folder."), "");
    CHECK_STR(found(&al_detector_location, st, "Paris Hilton arrived."), "");
    al_detector_location.free_state(st);
}

TEST(location_strong_evidence_is_a_home_not_a_mention)
{
    void *strong = load(&al_detector_location, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_location, strong, "I was born in Nairobi."), "Nairobi");
    CHECK_STR(found(&al_detector_location, strong, "The conference is in Barcelona."), "");
    CHECK_STR(found(&al_detector_location, strong, "I lived in Holland for a year."), "");
    CHECK_STR(found(&al_detector_location, strong, "She lives in Rotterdam."), "Rotterdam");
    CHECK_STR(found(&al_detector_location, strong, "Ich wohne in Leipzig."), "Leipzig");
    CHECK_STR(found(&al_detector_location, strong, "J'habite à Lyon."), "Lyon");
    /* a form's field for a home, at the start of its line */
    CHECK_STR(found(&al_detector_location, strong, "Street: 77 King St\nCity: Toronto\n"),
              "Toronto");
    CHECK_STR(found(&al_detector_location, strong, "Place of birth: Leeds\n"), "Leeds");
    CHECK_STR(found(&al_detector_location, strong, "The best city: Paris, of course."), "");
    CHECK_STR(found(&al_detector_location, strong, "Country: France\n"), "");
    al_detector_location.free_state(strong);
}

TEST(address_forms_are_found)
{
    void *st = load(&al_detector_address, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_address, st, "Ship it to 742 Evergreen Terrace, please."),
              "742 Evergreen Terrace");
    CHECK_STR(found(&al_detector_address, st, "Send mail to PO Box 4410."), "PO Box 4410");
    CHECK_STR(found(&al_detector_address, st, "Bezoekadres: Corellistraat 178"),
              "Corellistraat 178");
    CHECK_STR(found(&al_detector_address, st, "Our office: 12 Rue du Bac, Apt 4B."),
              "12 Rue du Bac|Apt 4B");
    CHECK_STR(found(&al_detector_address, st, "8 wressle road suite 771"),
              "8 wressle road|suite 771");
    CHECK_STR(found(&al_detector_address, st, "At 12 Main Street. Or 4 Elm St. nearby."),
              "12 Main Street|4 Elm St.");
    CHECK_STR(found(&al_detector_address, st, "I have 3 apples and 2 oranges."), "");
    CHECK_STR(found(&al_detector_address, st, "Chapter 12 covers the basics."), "");
    al_detector_address.free_state(st);
}

/* European street and postcode forms, post-office boxes and a unit before
 * its street; ordinary words ending like a street ("during") stay words. */
TEST(address_forms_of_other_countries_are_found)
{
    void *st = load(&al_detector_address, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_address, st, "Adress: Drottninggatan 25, 111 51 Stockholm"),
              "Drottninggatan 25|111 51 Stockholm");
    CHECK_STR(found(&al_detector_address, st, "Address: Via Roma 45, 00184 Roma"),
              "Via Roma 45|00184 Roma");
    CHECK_STR(found(&al_detector_address, st, "Rua Augusta 100, 1100-053 Lisboa"),
              "Rua Augusta 100|1100-053 Lisboa");
    CHECK_STR(found(&al_detector_address, st, "Nørrebrogade 44, 2200 København N, Denmark"),
              "Nørrebrogade 44|2200 København N|Denmark");
    CHECK_STR(found(&al_detector_address, st, "at 88 Harbour St, Sydney NSW 2000, Australia"),
              "88 Harbour St|Sydney NSW 2000|Australia");
    CHECK_STR(found(&al_detector_address, st, "Postfach 10 02 34, 80076 München"),
              "Postfach 10 02 34|80076 München");
    CHECK_STR(found(&al_detector_address, st, "Flat 3, 27 Mill Road, Cambridge CB1 2AD"),
              "Flat 3|27 Mill Road|Cambridge CB1 2AD");
    CHECK_STR(found(&al_detector_address, st, "Bahnhofstraße 5a, D-80335 München"),
              "Bahnhofstraße 5a|D-80335 München");
    CHECK_STR(found(&al_detector_address, st, "Limmatquai 4, CH-8001 Zürich"),
              "Limmatquai 4|CH-8001 Zürich");
    CHECK_STR(found(&al_detector_address, st, "12 bis rue Victor Hugo, F-69002 Lyon"),
              "12 bis rue Victor Hugo|F-69002 Lyon");
    CHECK_STR(found(&al_detector_address, st, "19 Queen's Road, Brighton BN1 3XE"),
              "19 Queen's Road|Brighton BN1 3XE");
    CHECK_STR(found(&al_detector_address, st, "I gave 19 of Tom's books away."), "");
    CHECK_STR(found(&al_detector_address, st, "Laan van Meerdervoort 100, 2517 AR Den Haag"),
              "Laan van Meerdervoort 100|2517 AR Den Haag");
    CHECK_STR(found(&al_detector_address, st, "Via Appia 3 km south of Rome"), "");
    CHECK_STR(found(&al_detector_address, st, "The Denver 2019 meetup notes"), "");
    CHECK_STR(found(&al_detector_address, st, "she lost 7 stickers during playtime"), "");
    CHECK_STR(found(&al_detector_address, st, "The road goes via Rome and Naples."), "");
    CHECK_STR(found(&al_detector_address, st, "Flight BA 2490 departs at 07:45."), "");
    al_detector_address.free_state(st);
}

TEST(address_block_lines_after_a_street_are_places)
{
    void *st = load(&al_detector_address, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_address, st, "5 Main Street\n Springfield\n Ohio 45501\n"),
              "5 Main Street|Springfield|Ohio 45501");
    CHECK_STR(found(&al_detector_address, st, "> 5 Main Street\n> Suite 4\n> Springfield\n"),
              "5 Main Street|Suite 4|Springfield");
    CHECK_STR(found(&al_detector_address, st, "5 Main Street\n\nThen we met at the Old Mill.\n"),
              "5 Main Street");
    al_detector_address.free_state(st);
}

TEST(address_on_one_line_keeps_its_postcodes_compass_point_and_town)
{
    void *st = load(&al_detector_address, NULL);
    REQUIRE(st);
    /* the postcode after the region, after the town, or before the town */
    CHECK_STR(
        found(&al_detector_address, st, "ship to 742 Evergreen Terrace, Springfield, OR 97403."),
        "742 Evergreen Terrace|Springfield|OR 97403");
    CHECK_STR(
        found(&al_detector_address, st, "at 221B Baker Street, London NW1 6XE, United Kingdom"),
        "221B Baker Street|London NW1 6XE|United Kingdom");
    CHECK_STR(found(&al_detector_address, st, "to Calle de Alcalá 48, 28014 Madrid, Spain."),
              "Calle de Alcalá 48|28014 Madrid|Spain");
    CHECK_STR(found(&al_detector_address, st, "moved to 10 Elm Street, Boston, MA 02108-1234"),
              "10 Elm Street|Boston|MA 02108-1234");
    /* a compass point and a second street type end the street */
    CHECK_STR(
        found(&al_detector_address, st, "at 1600 Pennsylvania Avenue NW, Washington, DC 20500"),
        "1600 Pennsylvania Avenue NW|Washington|DC 20500");
    CHECK_STR(found(&al_detector_address, st, "I live at 4821 Oak Ridge Drive."),
              "4821 Oak Ridge Drive");
    /* a year or a count after the street is no postcode */
    CHECK_STR(found(&al_detector_address, st, "Call 555 Main Street, 2024 was a good year"),
              "555 Main Street");
    CHECK_STR(found(&al_detector_address, st, "We met at 5 Main Street, 1500 of us"),
              "5 Main Street");
    al_detector_address.free_state(st);
}

TEST(empty_and_invalid_utf8_input_is_safe)
{
    const al_detector_ops *d[3] = {&al_detector_person, &al_detector_location,
                                   &al_detector_address};
    static const char bad[] =
        "\xff\xfe Mr. \xc3 \xe2\x80 Maria \xf0\x9f Gonzalez \xc3\x28 lives in "
        "\xed\xa0\x80 Paris 12 \xc0\xaf Street";
    for (int i = 0; i < 3; i++) {
        void *st = load(d[i], NULL);
        REQUIRE(st);
        al_spans sp = {0};
        CHECK(d[i]->scan(st, "", 0, &sp) == AL_OK);
        CHECK_EQ_INT(sp.n, 0);
        CHECK(d[i]->scan(st, NULL, 0, &sp) == AL_OK);
        CHECK(d[i]->scan(st, bad, sizeof bad - 1, &sp) == AL_OK);
        for (size_t j = 0; j < sp.n; j++) CHECK(sp.v[j].end <= sizeof bad - 1);
        if (i == 0) CHECK(sp.n > 0); /* "Mr. ... Maria" survives the bad bytes */
        for (size_t cut = 0; cut < sizeof bad - 1; cut++) {
            sp.n = 0;
            CHECK(d[i]->scan(st, bad, cut, &sp) == AL_OK);
            for (size_t j = 0; j < sp.n; j++)
                CHECK(sp.v[j].start < sp.v[j].end && sp.v[j].end <= cut);
        }
        al_spans_free(&sp);
        d[i]->free_state(st);
    }
}

TEST(an_overlong_utf8_digit_is_read_as_a_number_not_forever)
{
    const al_detector_ops *d[3] = {&al_detector_person, &al_detector_location,
                                   &al_detector_address};
    /* U+0037 '7' in three and four bytes: decoded as a digit that starts a
     * number; the scan must still move past it (the alarm ends a hang) */
    static const char bad[] =
        "call Maria Gonzalez at 555 \xe0\x80\xb7 or \xf0\x80\x80\xb7\xe0\x80\xb1"
        "2 Main Street";
    alarm(20);
    for (int i = 0; i < 3; i++) {
        void *st = load(d[i], NULL);
        REQUIRE(st);
        for (size_t cut = 0; cut <= sizeof bad - 1; cut++) {
            al_spans sp = {0};
            CHECK(d[i]->scan(st, bad, cut, &sp) == AL_OK);
            for (size_t j = 0; j < sp.n; j++)
                CHECK(sp.v[j].start < sp.v[j].end && sp.v[j].end <= cut);
            al_spans_free(&sp);
        }
        d[i]->free_state(st);
    }
    alarm(0);
    void *st = load(&al_detector_person, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_person, st, bad), "Maria Gonzalez");
    al_detector_person.free_state(st);
}

TEST(capitalised_ordinary_names_and_place_heads_are_judged_by_the_words_after_them)
{
    /* words the scan may pass without a step ("You", "Work", "Inc", "The")
     * still start what the words after them make of them */
    void *p = load(&al_detector_person, NULL), *l = load(&al_detector_location, NULL);
    void *a = load(&al_detector_address, NULL);
    REQUIRE(p && l && a);
    CHECK_STR(found(&al_detector_person, p, "Ask Will van Dijk about it."), "Will van Dijk");
    CHECK_STR(found(&al_detector_person, p, "May Johnson wrote. Hope Williams said Faith."),
              "Johnson|Hope Williams");
    CHECK_STR(found(&al_detector_person, p, "Thank you, Free Software Foundation, for the Work."),
              "");
    CHECK_STR(found(&al_detector_person, p, "Acme Inc. and Debian Ltd sent it. You\nSmith came."),
              "");
    CHECK_STR(found(&al_detector_location, l,
                    "She lives in The Hague now. THE HAGUE IS BIG. The plan is set."),
              "The Hague|THE HAGUE");
    CHECK_STR(found(&al_detector_address, a, "Work 12 Main Street."), "12 Main Street");
    /* a word that starts places ("New", "San", "The") is one only with the
     * word after it on its line, whatever that word is */
    CHECK_STR(found(&al_detector_location, l,
                    "I moved to New York last year and she lives in New Delhi."),
              "New York|New Delhi");
    CHECK_STR(found(&al_detector_location, l, "They met in New\nYork. The\nHague is far. The 42."),
              "");
    CHECK_STR(found(&al_detector_location, l,
                    "My friend lives in San Jose, and I live in San-Francisco."),
              "San Jose");
    CHECK_STR(found(&al_detector_location, l,
                    "Dear The, I am in New Jersey. The caf\xc3\xa9 in San Jos\xc3\xa9 is nice."),
              "New Jersey|San Jos\xc3\xa9");
    CHECK_STR(
        found(&al_detector_person, p, "The garden needs water. Mr Smith went to New South Wales."),
        "Mr Smith");
    CHECK_STR(
        found(&al_detector_location, l, "Mr Smith went to New South Wales. South Africa is big."),
        "New South Wales|South Africa");
    al_detector_person.free_state(p);
    al_detector_location.free_state(l);
    al_detector_address.free_state(a);
}

TEST(load_reports_missing_list_and_bad_params)
{
    void *st = (void *)1;
    char err[256] = "";
    CHECK(al_detector_person.load("rules", "{\"given\":\"data/nope.txt\"}", &st, err, sizeof err) !=
          AL_OK);
    CHECK(st == NULL);
    CHECK(strstr(err, "nope.txt") != NULL);
    CHECK(al_detector_person.load("rules", "[1]", &st, err, sizeof err) != AL_OK);
    CHECK(al_detector_person.load("rules", "{\"evidence\":\"maybe\"}", &st, err, sizeof err) !=
          AL_OK);
}

static double scan_seconds(const al_detector_ops *d, void *st, const char *text, size_t len)
{
    al_spans sp = {0};
    clock_t t0 = clock();
    d->scan(st, text, len, &sp);
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    al_spans_free(&sp);
    return s;
}

TEST(scan_time_is_linear_in_input_size)
{
    static const char unit[] = "Mr. John Smith lives in Paris at 12 Main Street, Apt 4B. May "
                               "Will Mark Grace Hope and Jack met Natalia in New York City. ";
    size_t small = 1 << 18, big = small * 8;
    char *text = malloc(big + 1);
    REQUIRE(text);
    for (size_t i = 0; i < big; i++) text[i] = unit[i % (sizeof unit - 1)];
    text[big] = 0;
    const al_detector_ops *d[3] = {&al_detector_person, &al_detector_location,
                                   &al_detector_address};
    for (int i = 0; i < 3; i++) {
        void *st = load(d[i], NULL);
        REQUIRE(st);
        double a = scan_seconds(d[i], st, text, small);
        double b = scan_seconds(d[i], st, text, big);
        CHECK(b < a * 8 * 4 + 0.05); /* linear, with slack for noise */
        d[i]->free_state(st);
    }
    free(text);
}

TEST(rules_sharing_word_lists_survive_each_others_free)
{
    void *a = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    void *b = load(&al_detector_person, "{\"evidence\":\"name\"}");
    REQUIRE(a && b);
    al_detector_person.free_state(a);
    CHECK_STR(found(&al_detector_person, b, "Please forward this to Maria Gonzalez today."),
              "Maria Gonzalez");
    al_detector_person.free_state(b);
}

TEST(a_buffer_rewritten_in_place_is_scanned_again)
{
    void *st = load(&al_detector_person, NULL);
    REQUIRE(st);
    char buf[] = "Please forward this to Maria Gonzalez today.";
    CHECK_STR(found(&al_detector_person, st, buf), "Maria Gonzalez");
    memcpy(buf + 23, "the next team", 13); /* same pointer, same length */
    CHECK_STR(found(&al_detector_person, st, buf), "");
    al_detector_person.free_state(st);
}

TEST(person_name_fields_and_personal_data_make_strong_evidence)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_person, strong, "Name: Ebony Moore\nPhone: 555"), "Ebony Moore");
    /* a lone first name after "Dear" is strong beside personal data only
     * (a_lone_first_name_after_a_greeting_is_a_name_mention) */
    CHECK_STR(found(&al_detector_person, strong, "Dear Olivia, your card ending 4411 is blocked"),
              "Olivia");
    CHECK_STR(found(&al_detector_person, strong, "Update the billing address for Maria Gonzalez."),
              "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "Brand Name: Mc Donalds"), "");
    CHECK_STR(found(&al_detector_person, strong, "From: Ana Silva\nTo: Peter Novak\n"),
              "Ana Silva|Peter Novak");
    CHECK_STR(found(&al_detector_person, strong, "Flight from: Paris\nto: Berlin\n"), "");
    CHECK_STR(found(&al_detector_person, strong, "User: Wei Zhang; Role: admin"), "Wei Zhang");
    CHECK_STR(found(&al_detector_person, strong, "Student: Priya Patel, grade 10"), "Priya Patel");
    CHECK_STR(found(&al_detector_person, strong, "User: Paris is lovely in May"), "");
    /* the whole name, not its first two words: a surname that is also a
     * word ends a run of name words as it ends a given name */
    CHECK_STR(found(&al_detector_person, strong, "Full Name: Johnathan Edward Doe."),
              "Johnathan Edward Doe");
    CHECK_STR(found(&al_detector_person, strong, "Customer: Anna Maria Rose\n"), "Anna Maria Rose");
    CHECK_STR(found(&al_detector_person, strong, "Tenant: Ana Maria de la Cruz\n"),
              "Ana Maria de la Cruz");
    CHECK_STR(found(&al_detector_person, strong, "Customer: Dr. Emily Rose White\n"),
              "Dr. Emily Rose White");
    CHECK_STR(found(&al_detector_person, strong, "What's your last name? Krylova"), "Krylova");
    CHECK_STR(found(&al_detector_person, strong, "Write a poem in the style of Robert Frost."), "");
    CHECK_STR(found(&al_detector_person, strong, "When was Angela Merkel born?"), "");
    CHECK_STR(found(&al_detector_person, strong, "Find this person's address.\n\nRobert Frost"),
              "");
    al_detector_person.free_state(strong);
}

/* Greetings, sign-offs, "I am called" and name fields of other European
 * languages introduce a name as "Dear", "Regards" and "Name:" do. */
TEST(person_intros_and_fields_of_other_european_languages_make_strong_evidence)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_person, strong, "Ich heiße Katharina Vogel."), "Katharina Vogel");
    CHECK_STR(found(&al_detector_person, strong, "Je m'appelle Julien Moreau."), "Julien Moreau");
    CHECK_STR(found(&al_detector_person, strong, "Hola, me llamo Diego Navarro."), "Diego Navarro");
    CHECK_STR(found(&al_detector_person, strong, "Mein Name ist Okonkwo."), "Okonkwo");
    CHECK_STR(found(&al_detector_person, strong, "Cordialement,\nIsabelle Laurent"),
              "Isabelle Laurent");
    CHECK_STR(found(&al_detector_person, strong, "Mit freundlichen Grüßen\nAndreas Keller"),
              "Andreas Keller");
    CHECK_STR(found(&al_detector_person, strong, "Met vriendelijke groet,\nSanne Bakker"),
              "Sanne Bakker");
    CHECK_STR(found(&al_detector_person, strong, "Nachname: Schneider\n"), "Schneider");
    CHECK_STR(found(&al_detector_person, strong, "Ship to: Henrik Larsen\n"), "Henrik Larsen");
    CHECK_STR(found(&al_detector_person, strong, "Employee name: Hannah Schultz\n"),
              "Hannah Schultz");
    CHECK_STR(found(&al_detector_person, strong, "Applicant: Grace Oyelaran\n"), "Grace Oyelaran");
    CHECK_STR(found(&al_detector_person, strong, "ID 4411 \xe2\x80\x93 Name: Ana Silva"),
              "Ana Silva"); /* a field after an en dash */
    CHECK_STR(found(&al_detector_person, strong, "Katie said hello."), "");
    /* roles of records: "Reported by:", "Assigned to:", "Spouse:", "Pt. name:" */
    CHECK_STR(found(&al_detector_person, strong, "Reported by: Tom Becker\n"), "Tom Becker");
    CHECK_STR(found(&al_detector_person, strong, "Assigned to: Lucia Fernandez\n"),
              "Lucia Fernandez");
    CHECK_STR(found(&al_detector_person, strong, "Spouse: Mark Delaney\n"), "Mark Delaney");
    CHECK_STR(found(&al_detector_person, strong, "Pt. name: Jorge Ramírez\n"), "Jorge Ramírez");
    CHECK_STR(found(&al_detector_person, strong, "Attending physician: Dr. Helen Marsh\n"),
              "Dr. Helen Marsh");
    CHECK_STR(found(&al_detector_person, strong, "Written by: Stephen King\n"), "");
    /* "I'm" before a full name introduces it; before one word it may not */
    CHECK_STR(found(&al_detector_person, strong, "Hi, I'm Sarah Jones and I can't log in."),
              "Sarah Jones");
    CHECK_STR(found(&al_detector_person, strong, "I'm Batman."), "");
    /* initials and the surname after them, not the first letter alone */
    CHECK_STR(found(&al_detector_person, strong, "Signed: J. Smith\n"), "J. Smith");
    CHECK_STR(found(&al_detector_person, strong, "Name: K. R. Nowak\n"), "K. R. Nowak");
    CHECK_STR(found(&al_detector_person, strong, "Answer: B. Paris is the capital.\n"), "");
    /* a form's name field in capitals, not capitals in general */
    CHECK_STR(found(&al_detector_person, strong, "Name: JOHN SMITH\n"), "JOHN SMITH");
    CHECK_STR(found(&al_detector_person, strong, "Customer: GARCIA, Maria\n"), "GARCIA, Maria");
    CHECK_STR(found(&al_detector_person, strong, "To: ALL STAFF\n"), "");
    CHECK_STR(found(&al_detector_person, strong, "NOTE: JOHN SMITH WAS HERE\n"), "");
    /* an introduced name keeps a surname that is also a tool's or month's name */
    CHECK_STR(found(&al_detector_person, strong, "Customer: Linda Jenkins\n"), "Linda Jenkins");
    CHECK_STR(found(&al_detector_person, strong, "My name is Ruth May, hello."), "Ruth May");
    /* a role that also holds products and teams takes only a full name */
    CHECK_STR(found(&al_detector_person, strong, "Manager: Priyanka Sharma\n"), "Priyanka Sharma");
    CHECK_STR(found(&al_detector_person, strong, "Manager: Kubernetes controller\n"), "");
    CHECK_STR(found(&al_detector_person, strong, "Assigned to: Backend Team\n"), "");
    /* "Hola", "Bonjour" greet a name closed by ',' or '!'; nouns are no names */
    CHECK_STR(found(&al_detector_person, strong, "Bonjour Marie Dubois, merci."), "Marie Dubois");
    CHECK_STR(found(&al_detector_person, strong, "Hola Mundo is Spanish."), "");
    CHECK_STR(found(&al_detector_person, strong, "Bonjour Tristesse is a novel."), "");
    CHECK_STR(found(&al_detector_person, strong, "Hallo Welt, das ist mein Programm."), "");
    CHECK_STR(found(&al_detector_person, strong, "Met vriendelijke groet, Het Team"), "");
    CHECK_STR(found(&al_detector_person, strong, "Name of employee: Ravi Iyer\n"), "Ravi Iyer");
    CHECK_STR(found(&al_detector_person, strong, "Preferred name: Ben\n"), "Ben");
    CHECK_STR(found(&al_detector_person, strong, "Next of kin: Linda Novak\n"), "Linda Novak");
    /* lowercase text takes the same way through the fast pass */
    CHECK_STR(found(&al_detector_person, strong, "well, cordialement, luc moreau"), "luc moreau");
    CHECK_STR(found(&al_detector_person, strong, "hola a todos, me llamo diego"), "diego");
    /* not a greeting: a noun after an adjective, a place after "to:" */
    CHECK_STR(found(&al_detector_person, strong, "Die beste Lösung ist einfach."), "");
    CHECK_STR(found(&al_detector_person, strong, "Ship to: Berlin\n"), "");
    al_detector_person.free_state(strong);
}

TEST(a_lone_first_name_after_a_greeting_or_sign_off_is_a_name_mention)
{
    /* "Dear Olivia," names a letter's addressee: alone a first name
     * identifies nobody, so a completion keeps it (flagged) unless personal
     * data stands beside it; a full name, or a name introduced as one's own,
     * stays strong */
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    void *name = load(&al_detector_person, "{\"evidence\":\"name\"}");
    REQUIRE(strong && name);
    static const char *const lone[] = {"Dear Olivia,\n\nThe conference went great.",
                                       "Hi, Tom! Thanks for the update.",
                                       "Best regards,\nOlivia",
                                       "Bonjour Marie, merci.",
                                       "well, cordialement, luc",
                                       "Hola Diego, gracias."};
    static const char *const who[] = {"Olivia", "Tom", "Olivia", "Marie", "luc", "Diego"};
    for (size_t i = 0; i < sizeof lone / sizeof lone[0]; i++) {
        CHECK_STR(found(&al_detector_person, strong, lone[i]), "");
        CHECK_STR(found(&al_detector_person, name, lone[i]), who[i]);
    }
    CHECK_STR(found(&al_detector_person, strong, "Dear Olivia Martinez,\nthanks"),
              "Olivia Martinez");
    CHECK_STR(found(&al_detector_person, strong, "Regards,\nOlivia Martinez"), "Olivia Martinez");
    CHECK_STR(found(&al_detector_person, strong, "Hi, my name is Olivia."), "Olivia");
    CHECK_STR(found(&al_detector_person, strong, "Preferred name: Ben\n"), "Ben");
    CHECK_STR(found(&al_detector_person, strong, "Attn: Olivia\n"), "Olivia");
    CHECK_STR(found(&al_detector_person, strong,
                    "Dear Olivia, your account 12345678 is overdue; call 212-555-0199."),
              "Olivia");
    al_detector_person.free_state(strong);
    al_detector_person.free_state(name);
}

TEST(location_home_context_takes_unlisted_towns_but_not_products)
{
    void *st = load(&al_detector_location, "{\"evidence\":\"strong\"}");
    REQUIRE(st);
    CHECK_STR(found(&al_detector_location, st, "My friend lives in Oberwinterthal now."),
              "Oberwinterthal");
    CHECK_STR(found(&al_detector_location, st, "images that come from PokeAPI sprites"), "");
    CHECK_STR(found(&al_detector_location, st, "27% of our tourism comes from Scotland"), "");
    al_detector_location.free_state(st);
}

TEST(all_lowercase_text_is_judged_as_if_capitalised)
{
    void *p = load(&al_detector_person, NULL);
    void *l = load(&al_detector_location, NULL);
    void *a = load(&al_detector_address, NULL);
    REQUIRE(p && l && a);
    CHECK_STR(found(&al_detector_person, p, "follow up with tracy wisniewska in 2 months."),
              "tracy wisniewska");
    CHECK_STR(found(&al_detector_person, p, "how many grams of protein do i need"), "");
    CHECK_STR(found(&al_detector_person, p, "personality: i am easygoing and calm"), "");
    CHECK_STR(found(&al_detector_location, l, "she moved here from switzerland"), "switzerland");
    CHECK_STR(found(&al_detector_address, a, "it takes 1 hour to walk to the park"), "");
    /* one capital letter anywhere and lowercase words are words again */
    CHECK_STR(found(&al_detector_person, p, "Follow up with tracy wisniewska in 2 months."), "");
    al_detector_person.free_state(p);
    al_detector_location.free_state(l);
    al_detector_address.free_state(a);
}

TEST(location_unlisted_name_ending_an_in_phrase_is_a_mention)
{
    void *weak = load(&al_detector_location, "{\"evidence\":\"weak\"}");
    void *strong = load(&al_detector_location, "{\"evidence\":\"strong\"}");
    REQUIRE(weak && strong);
    CHECK_STR(found(&al_detector_location, weak, "The next year he worked in Oberwinterthal, then"),
              "Oberwinterthal");
    CHECK_STR(found(&al_detector_location, strong, "The next year he worked in Oberwinterthal."),
              "");
    CHECK_STR(found(&al_detector_location, weak, "It is written in Python, like the rest."), "");
    CHECK_STR(found(&al_detector_location, weak, "Put it in Quarantine mode first"), "");
    al_detector_location.free_state(weak);
    al_detector_location.free_state(strong);
}

struct scan_job {
    void *st;
    const char *text, *want;
    int ok;
};

static void *scan_thread(void *arg)
{
    struct scan_job *j = arg;
    j->ok = 1;
    for (int i = 0; i < 200; i++) {
        al_spans sp = {0};
        if (al_detector_person.scan(j->st, j->text, strlen(j->text), &sp) != AL_OK || sp.n != 1 ||
            strncmp(j->text + sp.v[0].start, j->want, sp.v[0].end - sp.v[0].start) != 0)
            j->ok = 0;
        al_spans_free(&sp);
    }
    return NULL;
}

/* Plain lowercase prose is passed over quickly; what stands inside it must
 * still be seen: an introduction, a lowercase title, a unit, a name after
 * hyphenated words, a home written in capitals. */
TEST(names_inside_long_plain_prose_are_still_found)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    void *person = load(&al_detector_person, NULL);
    void *loc = load(&al_detector_location, "{\"evidence\":\"strong\"}");
    void *addr = load(&al_detector_address, NULL);
    REQUIRE(strong && person && loc && addr);
    CHECK_STR(found(&al_detector_person, strong,
                    "The form was filled in long ago by the clerk at the desk, and the caller "
                    "said my name is ferdinando and hung up."),
              "ferdinando");
    CHECK_STR(found(&al_detector_person, person,
                    "After a long and quiet walk along the river we met mr. larry lombardo near "
                    "the old mill."),
              "mr. larry lombardo");
    CHECK_STR(found(&al_detector_address, addr,
                    "The parcel went out on monday and should reach apt 4 by the weekend."),
              "apt 4");
    CHECK_STR(found(&al_detector_person, person,
                    "The well-known o'neill-style writer's friend, named Tomasz Kowalczyk, came "
                    "by."),
              "Tomasz Kowalczyk");
    CHECK_STR(found(&al_detector_person, person,
                    "IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM."),
              "");
    CHECK_STR(found(&al_detector_location, loc, "WE BOTH LIVE IN ROTTERDAM NOW."), "ROTTERDAM");
    al_detector_person.free_state(strong);
    al_detector_person.free_state(person);
    al_detector_location.free_state(loc);
    al_detector_address.free_state(addr);
}

/* Capitalised words in no list at all ("Apache", "Licensor") are passed
 * over in plain prose; one after a word that introduces a name or a home
 * is still judged. */
TEST(unlisted_capitalised_words_are_judged_by_what_stands_before_them)
{
    void *person = load(&al_detector_person, NULL);
    void *loc = load(&al_detector_location, "{\"evidence\":\"strong\"}");
    REQUIRE(person && loc);
    CHECK_STR(found(&al_detector_person, person,
                    "The Apache Licensor grants the Zorblax Works to all, and the old keeper "
                    "said Zorblax would call."),
              "Zorblax");
    CHECK_STR(found(&al_detector_person, person,
                    "Apache and Licensor wrote the notes for the file.\nFull name: Zorblax"),
              "Zorblax");
    CHECK_STR(found(&al_detector_location, loc,
                    "Apache Zorblax Works are fine, and for years now she lives in Knonau."),
              "Knonau");
    CHECK_STR(found(&al_detector_person, person, "Apache Zorblax Works and Licensor Notes."), "");
    al_detector_person.free_state(person);
    al_detector_location.free_state(loc);
}

TEST(threads_scanning_different_texts_get_their_own_results)
{
    void *st = load(&al_detector_person, "{\"evidence\":\"name\"}");
    REQUIRE(st);
    struct scan_job jobs[4] = {
        {st, "Please forward this to Maria Gonzalez today.", "Maria Gonzalez", 0},
        {st, "Ask Dr. Rodney Radolic about it.", "Dr. Rodney Radolic", 0},
        {st, "It was signed by Mr. Okonkwo.", "Mr. Okonkwo", 0},
        {st, "We met John F. Kennedy there.", "John F. Kennedy", 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, scan_thread, &jobs[i]) == 0);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) CHECK(jobs[i].ok);
    al_detector_person.free_state(st);
}

/* A thread whose texts hold no name never grows a span list; its lookup memo
 * and its copy of the text are still freed when it ends (LeakSanitizer). */
static void *scan_plain_thread(void *arg)
{
    static const char *const texts[] = {"Plants release oxygen as a by-product.",
                                        "the soil is warm in the afternoon"};
    struct scan_job *j = arg;
    j->ok = 1;
    for (int i = 0; i < 20; i++) {
        al_spans sp = {0};
        const char *t = texts[i % 2];
        if (al_detector_person.scan(j->st, t, strlen(t), &sp) != AL_OK || sp.n != 0) j->ok = 0;
        al_spans_free(&sp);
    }
    return NULL;
}

TEST(a_thread_that_finds_no_name_frees_its_scan_cache_when_it_ends)
{
    void *st = load(&al_detector_person, "{\"evidence\":\"name\"}");
    REQUIRE(st);
    struct scan_job job = {st, NULL, NULL, 0};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, scan_plain_thread, &job) == 0);
    pthread_join(t, NULL);
    CHECK(job.ok);
    al_detector_person.free_state(st);
}

TEST(person_next_to_a_street_address_or_a_home_is_strong)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(
        found(&al_detector_person, strong, "Maria Gonzalez lives at 42 Elm Street, Springfield."),
        "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "Send it to John Smith, 12 Oak Avenue, Portland."),
              "John Smith");
    CHECK_STR(found(&al_detector_person, strong, "Mail for Ana Lima: apt 4B on the second floor"),
              "Ana Lima");
    /* a biography, a measurement, a score: no personal record */
    CHECK_STR(found(&al_detector_person, strong, "Robert Frost was born in San Francisco in 1874."),
              "");
    CHECK_STR(found(&al_detector_person, strong, "Mr Boarden tiles 36 sq ft of floor."), "");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez scored 3 Points in the final."),
              "");
    al_detector_person.free_state(strong);
}

/* All spans of one detector over t[0..n), as "start-end;" pairs. */
static void spans_of(const al_detector_ops *d, void *st, const char *t, size_t n, char *out,
                     size_t cap)
{
    al_spans sp = {0};
    size_t o = 0;
    out[0] = 0;
    if (d->scan(st, t, n, &sp) != AL_OK) snprintf(out, cap, "(error)");
    for (size_t i = 0; i < sp.n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%zu-%zu;", sp.v[i].start, sp.v[i].end);
    al_spans_free(&sp);
}

/* One pass of a stream scrubber over its window win[0..n), checked: scans win
 * where it lies, taking up the scan before it, into a (cap bytes); the same
 * text alone (copied to another buffer, after a scan of another text) into b;
 * then win again, so that the next call takes this one up.  Returns 1 when a
 * and b are the same. */
static int scanned_as_if_alone(const al_detector_ops *d, void *st, const char *win, size_t n,
                               char *a, char *b, size_t cap)
{
    static char alone[1024], next[4096];
    if (n > sizeof alone) {
        fprintf(stderr, "  window of %zu bytes: longer than %zu\n", n, sizeof alone);
        return 0;
    }
    spans_of(d, st, win, n, a, cap);
    memcpy(alone, win, n);
    spans_of(d, st, "x", 1, b, cap);
    spans_of(d, st, alone, n, b, cap);
    int same = strcmp(a, b) == 0;
    spans_of(d, st, win, n, next, sizeof next); /* the next call takes this one up */
    return same;
}

/* A stream scrubber scans a window that slid on and grew since its last
 * pass, in the same buffer: the scan that takes up the one before finds
 * what a scan of the window alone finds, for every detector and level. */
TEST(a_window_that_slid_on_is_scanned_as_if_alone)
{
    static const char *const parts[] = {
        "The committee met again on the third floor to review the budget for the coming year. ",
        "Please forward this to Maria Gonzalez today, and send a copy to the office in Paris. ",
        "My name is Priya and I need help with my account, which was opened last spring. ",
        "Dear Okonkwo, your card ending 4411 was declined at the store near the station. ",
        "She lives in Knonau with her two brothers and a small dog named after a river. ",
        "Maria Gonzalez lives at 42 Elm Street, Springfield, and works at the bakery there. ",
        "Send it to John Smith, 12 Oak Avenue, Portland. Mail for Ana Lima: apt 4B please. ",
        "The results were then written into the notebook, which took most of the evening. ",
        "Write a poem in the style of Robert Frost about the woods and the quiet snow. ",
        "Customer: Ana Silva\nAddress: Corellistraat 178\nSoest\nNetherlands\n",
        "Robert Frost was born in San Francisco in 1874, and the family moved east later. "};
    char text[4096];
    size_t len = 0;
    for (int r = 0; r < 3; r++)
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            size_t n = strlen(parts[(i * 7 + r * 3) % (sizeof parts / sizeof parts[0])]);
            if (len + n >= sizeof text) break;
            memcpy(text + len, parts[(i * 7 + r * 3) % (sizeof parts / sizeof parts[0])], n);
            len += n;
        }
    const al_detector_ops *det[3] = {&al_detector_person, &al_detector_location,
                                     &al_detector_address};
    void *st[3];
    for (int k = 0; k < 3; k++) {
        st[k] = load(det[k], NULL);
        REQUIRE(st[k]);
    }
    static char win[1024], a[4096], b[4096];
    size_t start = 0, end = 0, step = 0, windows = 0;
    int same = 1;
    while (end < len) {
        end += 20 + (step * 37) % 60;
        if (end > len) end = len;
        if (end - start > 450) start = end - 400 + (step * 13) % 40;
        step++;
        size_t n = end - start;
        memcpy(win, text + start, n); /* the window, moved to the buffer's start */
        for (int k = 0; k < 3; k++) {
            if (!scanned_as_if_alone(det[k], st[k], win, n, a, b, sizeof a)) {
                fprintf(stderr, "  window %zu..%zu, detector %d: %s / %s\n", start, end, k, a, b);
                same = 0;
            }
        }
        windows++;
    }
    CHECK(same);
    CHECK(windows > 20);
    for (int k = 0; k < 3; k++) det[k]->free_state(st[k]);
}

/* near_pii looks 60 bytes before a name: a window that starts after "phone"
 * no longer makes the name next to it strong, though the scan before did. */
TEST(a_window_that_slid_past_a_personal_data_word_judges_the_name_without_it)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    static char buf[512];
    strcpy(buf, "Write down the phone number later since their office and Maria Gonzalez "
                "answers every single letter that people wrote during the summer months of the "
                "year before the storm came through the valley and the river and the woods.");
    size_t n = strlen(buf);
    char cut = buf[n - 40];
    buf[n - 40] = 0; /* the stream's window before: this one grew from it */
    CHECK_STR(found(&al_detector_person, strong, buf), "Maria Gonzalez");
    buf[n - 40] = cut;
    CHECK_STR(found(&al_detector_person, strong, buf), "Maria Gonzalez");
    char *from = strstr(buf, "number");
    memmove(buf, from, strlen(from) + 1);
    CHECK_STR(found(&al_detector_person, strong, buf), "");
    al_detector_person.free_state(strong);
}

/* near_pii looks 60 bytes after a name too: a window that grew a "phone"
 * after the name makes it strong, though the scan before, which ended
 * sooner, did not. */
TEST(a_window_that_grew_a_personal_data_word_judges_the_name_with_it)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    static char buf[512];
    static const char before[] =
        "The garden was quiet for most of the evening and the old gate stayed closed while "
        "the rain moved slowly across the hills, and then Maria Gonzalez wrote those letters "
        "during summer";
    strcpy(buf, before);
    buf[strlen(before) - 10] = 0; /* the stream's window before: this one grew from it */
    CHECK_STR(found(&al_detector_person, strong, buf), "");
    strcpy(buf, before);
    CHECK_STR(found(&al_detector_person, strong, buf), "");
    strcat(buf, " and phone calls.");
    CHECK_STR(found(&al_detector_person, strong, buf), "Maria Gonzalez");
    al_detector_person.free_state(strong);
}

/* A name in a record row: beside a number written as an SSN, phone or card
 * number it is somebody's record (strong), with no field word needed; a
 * name beside a year range, an ISO date or an ISBN stays a mention. */
TEST(a_name_beside_a_record_number_is_strong_and_beside_dates_it_is_not)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez, 536-22-1234"), "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "| Maria Gonzalez | 212.555.0199 |"),
              "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez,(212) 555-0199,NY"),
              "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez; +44 20 7946 0958"),
              "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez, 4111-1111-1111-1111"),
              "Maria Gonzalez");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez wrote it in 1915-1923."), "");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez, born 1961-08-04."), "");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez, ISBN 978-0-306-40615-7"), "");
    CHECK_STR(found(&al_detector_person, strong, "Maria Gonzalez scored 536-22-12345 points"), "");
    al_detector_person.free_state(strong);
}

/* A window of a stream that ends inside the words after a number, before
 * the street type that makes them an address ("12 zork blahblah foofoofoo"
 * | " Street"), is taken up by the next window as if that one were alone:
 * what skip_plain read past the number to pass it does not let a
 * checkpoint before the end of those reads be taken up. */
TEST(a_window_ending_in_the_words_after_a_number_is_taken_up_as_if_alone)
{
    static const char text[] =
        "the parcel was left at the desk of the hall and then it was taken away by the "
        "porter who came early in the morning and the clerk said that it would go out "
        "with the rest of the mail before noon so we waited there for a while and it "
        "went to 12 zork blahblah foofoofoo Street yesterday, said the clerk at the desk "
        "of the hall where the porter sat down for a while and then went home again.";
    size_t len = sizeof text - 1;
    void *st = load(&al_detector_address, NULL);
    REQUIRE(st);
    static char win[1024], a[4096], b[4096];
    int same = 1, found = 0;
    for (size_t end = 200, step = 0; end <= len; end += 1 + step++ % 7) {
        size_t start = step % 3 ? 0 : 3; /* some windows slid on by a word */
        size_t n = end - start;
        memcpy(win, text + start, n);
        if (!scanned_as_if_alone(&al_detector_address, st, win, n, a, b, sizeof a)) {
            fprintf(stderr, "  window %zu..%zu: %s / %s\n", start, end, a, b);
            same = 0;
        }
        found |= a[0] != 0;
    }
    CHECK(same);
    CHECK(found);
    al_detector_address.free_state(st);
}

/* A listed surname that is no ordinary word ("Plants", "Stenberg") alone
 * is a name only where something makes it one: after a word of said, in a
 * list of names, introduced, before another name; the fast pass that leaves
 * it alone elsewhere finds what the three steps find. */
TEST(a_lone_surname_is_a_name_only_where_its_context_makes_it_one)
{
    void *st = load(&al_detector_person, NULL);
    REQUIRE(st);
    CHECK_STR(found(&al_detector_person, st, "In glucose. Plants release oxygen as a by-product."),
              "");
    CHECK_STR(found(&al_detector_person, st, "Files: src/main.c and the rest."), "");
    CHECK_STR(found(&al_detector_person, st, "The old keeper said Stenberg would call."),
              "Stenberg");
    CHECK_STR(found(&al_detector_person, st, "We met Maria, Stenberg and Jones there."),
              "Maria|Stenberg|Jones");
    CHECK_STR(found(&al_detector_person, st, "My name is Stenberg, hello."), "Stenberg");
    CHECK_STR(found(&al_detector_person, st, "Then Stenberg Okonkwo came in."), "Stenberg Okonkwo");
    al_detector_person.free_state(st);
}

/* Spans of d over text[0..len) in the caller's pass (al_spans.pass), as
 * "text|text" like found. */
static const char *found_in_pass(const al_detector_ops *d, void *st, const char *text, size_t len,
                                 uint64_t pass)
{
    static char out[1024];
    al_spans sp = {0};
    sp.pass = pass;
    out[0] = 0;
    if (d->scan(st, text, len, &sp) != AL_OK) {
        strcpy(out, "(error)");
    } else {
        for (size_t i = 0; i < sp.n; i++) {
            size_t n = strlen(out);
            snprintf(out + n, sizeof out - n, "%s%.*s", i ? "|" : "",
                     (int)(sp.v[i].end - sp.v[i].start), text + sp.v[i].start);
        }
    }
    al_spans_free(&sp);
    return out;
}

/* The rules of one pass read the spans of the text scanned for the first
 * without comparing it; a text changed in place (same buffer, same length)
 * is scanned again in a later pass, in a pass the caller does not name
 * (0), and another buffer in the same pass is not taken for the first. */
TEST(a_text_changed_in_place_is_scanned_again_whatever_the_pass_key)
{
    void *p = load(&al_detector_person, NULL), *l = load(&al_detector_location, NULL);
    REQUIRE(p && l);
    static char buf[128], other[128];
    strcpy(buf, "Please forward this to Maria Gonzalez today.");
    const size_t n = strlen(buf);
    CHECK_STR(found_in_pass(&al_detector_person, p, buf, n, 7), "Maria Gonzalez");
    CHECK_STR(found_in_pass(&al_detector_location, l, buf, n, 7), "");
    CHECK_STR(found_in_pass(&al_detector_person, p, buf, n, 7), "Maria Gonzalez");
    /* the next pass, the same buffer and length, other words */
    memcpy(buf, "Please forward this to Priya Raman in Paris.", n);
    CHECK_STR(found_in_pass(&al_detector_person, p, buf, n, 8), "Priya Raman");
    CHECK_STR(found_in_pass(&al_detector_location, l, buf, n, 8), "Paris");
    /* changed again, and the caller names no pass */
    memcpy(buf, "Please forward this to Maria Gonzalez today.", n);
    CHECK_STR(found_in_pass(&al_detector_person, p, buf, n, 0), "Maria Gonzalez");
    memcpy(buf, "Please forward this to Priya Raman in Paris.", n);
    CHECK_STR(found_in_pass(&al_detector_person, p, buf, n, 0), "Priya Raman");
    /* in pass 9 the scan of buf is kept; a text elsewhere in pass 9 is its own */
    CHECK_STR(found_in_pass(&al_detector_location, l, buf, n, 9), "Paris");
    strcpy(other, "Please forward this to Maria Gonzalez today.");
    CHECK_STR(found_in_pass(&al_detector_person, p, other, n, 9), "Maria Gonzalez");
    CHECK_STR(found_in_pass(&al_detector_location, l, other, n, 9), "");
    /* and a shorter text at the same place */
    CHECK_STR(found_in_pass(&al_detector_person, p, other, 22, 9), "");
    al_detector_person.free_state(p);
    al_detector_location.free_state(l);
}

/* A stream's window grows one byte at a time and slides on (mid-word or
 * not), so that each name in it lies, in one pass or another, across the
 * end of the text the scan before read, where this scan takes that one up
 * and goes on: every pass finds what a scan of its window alone finds (none
 * drops a span it took over, none judges a name without the words after
 * it), and each name is found whole in some pass. */
TEST(a_name_across_the_end_of_the_scan_before_is_found_as_if_alone)
{
    static const char text[] =
        "the notes were kept in a drawer by the window and then the letters came in the "
        "morning with the rest of the mail, and the clerk at the desk said that dr. Okonkwo "
        "had signed for the parcel before noon, so it went out with the rest of the post "
        "on the same day and reached the office by the evening of the next day. later the "
        "letters came from Maria Gonzalez who wrote that the parcel would go to 42 Elm "
        "Street in the town of Springfield before the winter; then we met John Smith and "
        "Ana Lima, who lives in Paris, near the old station where the trains stop twice.";
    const size_t len = sizeof text - 1;
    const al_detector_ops *det[3] = {&al_detector_person, &al_detector_location,
                                     &al_detector_address};
    static const char *const want[3] = {"dr. Okonkwo", "Paris", "42 Elm Street"};
    void *st[3];
    for (int k = 0; k < 3; k++) {
        st[k] = load(det[k], NULL);
        REQUIRE(st[k]);
    }
    static char win[1024], a[4096], b[4096];
    int same = 1, seen[3] = {0, 0, 0};
    for (size_t end = 100, start = 0, step = 0; end <= len; end++, step++) {
        if (end - start > 260) start = end - 200 - step % 37; /* slid on, mid-word or not */
        size_t n = end - start;
        memcpy(win, text + start, n); /* the window, in the same buffer each pass */
        for (int k = 0; k < 3; k++) {
            if (!scanned_as_if_alone(det[k], st[k], win, n, a, b, sizeof a)) {
                fprintf(stderr, "  window %zu..%zu, detector %d: %s / %s\n", start, end, k, a, b);
                same = 0;
            }
            const char *w = strstr(text, want[k]);
            size_t ws = (size_t)(w - text) - start, we = ws + strlen(want[k]);
            char span[32];
            snprintf(span, sizeof span, "%zu-%zu;", ws, we);
            if (w >= text + start && strstr(a, span)) seen[k] = 1;
        }
    }
    CHECK(same);
    for (int k = 0; k < 3; k++) CHECK(seen[k]);
    for (int k = 0; k < 3; k++) det[k]->free_state(st[k]);
}

/* A surname that is also a street or organisation word ("Hall", "Hill",
 * "Park") after a given name: the whole name when an introduction or a
 * field stands before it, or personal data beside it; not a place. */
TEST(an_introduced_name_takes_a_surname_that_is_also_a_street_or_org_word)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_person, strong, "My name is Peter Hall."), "Peter Hall");
    CHECK_STR(found(&al_detector_person, strong, "Customer: Mary Hill"), "Mary Hill");
    CHECK_STR(found(&al_detector_person, strong, "Dear Mary Hill,\nthanks"), "Mary Hill");
    CHECK_STR(found(&al_detector_person, strong, "Client: Daniel Park\n"), "Daniel Park");
    CHECK_STR(found(&al_detector_person, strong, "Peter Hall, card 4111 1111 1111 1111"),
              "Peter Hall");
    CHECK_STR(found(&al_detector_person, strong, "Peter Hall is a theatre director."), "");
    CHECK_STR(found(&al_detector_person, strong, "We met near Peter Hall, phone 555 0100."), "");
    CHECK_STR(found(&al_detector_person, strong, "Dear Mary Hill Road residents,"), "");
    CHECK_STR(found(&al_detector_person, strong, "Dear Victoria Park visitors,"), "");
    CHECK_STR(found(&al_detector_person, strong, "Her address: 14 William Street, Leeds"), "");
    CHECK_STR(found(&al_detector_person, strong, "Note: Check the Hall effect sensor"), "");
    al_detector_person.free_state(strong);
}

/* Forms of support chats, calls and records that make a full or titled
 * name strong: a speaker's label, "My name's", "This is" opening a call or
 * message, "Good morning Mrs. X", "it's X Y" after a greeting; two titles
 * take the surname they share. */
TEST(chat_labels_and_call_openings_make_a_full_or_titled_name_strong)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    void *name = load(&al_detector_person, "{\"evidence\":\"name\"}");
    REQUIRE(strong && name);
    CHECK_STR(found(&al_detector_person, strong, "[10:42] Marco Rossi: hi, my order is late"),
              "Marco Rossi");
    CHECK_STR(found(&al_detector_person, strong, "Agent: Hello!\nMarco Rossi: my parcel is lost"),
              "Marco Rossi");
    CHECK_STR(found(&al_detector_person, strong, "My name's Laura Bennett and I need a refund."),
              "Laura Bennett");
    CHECK_STR(found(&al_detector_person, strong, "my name's Priya."), "Priya");
    CHECK_STR(found(&al_detector_person, strong, "Hi, this is Laura Bennett from billing."),
              "Laura Bennett");
    CHECK_STR(found(&al_detector_person, strong, "This is Laura Bennett calling about my order."),
              "Laura Bennett");
    CHECK_STR(found(&al_detector_person, strong, "Good morning Mrs. Okafor, thanks for calling."),
              "Mrs. Okafor");
    CHECK_STR(found(&al_detector_person, strong, "Good afternoon, Mr Okafor."), "Mr Okafor");
    CHECK_STR(found(&al_detector_person, strong, "Hello, it's Laura Bennett again."),
              "Laura Bennett");
    CHECK_STR(found(&al_detector_person, name, "Mr and Mrs Okafor will arrive at noon."),
              "Mr and Mrs Okafor");
    /* not strong: a heading, a possessive, other openings, no name at all */
    CHECK_STR(found(&al_detector_person, strong, "Robert Frost: a poet of New England."), "");
    CHECK_STR(found(&al_detector_person, strong, "This is Robert Frost's best poem."), "");
    CHECK_STR(found(&al_detector_person, strong, "So it's Robert Frost again."), "");
    CHECK_STR(found(&al_detector_person, strong, "This is Python code."), "");
    CHECK_STR(found(&al_detector_person, strong, "Good morning Vietnam is a film."), "");
    CHECK_STR(found(&al_detector_person, strong, "Status: Open\nNote: Check the Hall sensor"), "");
    CHECK_STR(found(&al_detector_person, strong, "Mr and Mrs Smith is a film."), "");
    al_detector_person.free_state(strong);
    al_detector_person.free_state(name);
}

/* The forms above with a surname that is also a street or organisation
 * word, after a title ("Mrs Hall") or a chat opening, and a name field
 * whose given name is also a town ("Signed: Mary Stone"). */
TEST(titles_chat_openings_and_fields_take_a_surname_that_is_also_a_word)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    void *name = load(&al_detector_person, "{\"evidence\":\"name\"}");
    REQUIRE(strong && name);
    CHECK_STR(found(&al_detector_person, strong, "Good morning, Mrs Hall."), "Mrs Hall");
    CHECK_STR(found(&al_detector_person, strong, "Dear Mr. and Mrs. Hall,"), "Mr. and Mrs. Hall");
    CHECK_STR(found(&al_detector_person, strong, "Hi, this is Mary Hill from accounts."),
              "Mary Hill");
    CHECK_STR(found(&al_detector_person, strong, "Hello, it's Peter Hall."), "Peter Hall");
    CHECK_STR(found(&al_detector_person, strong, "[10:42] Mary Hill: hi there"), "Mary Hill");
    CHECK_STR(found(&al_detector_person, strong, "Signed: Mary Stone"), "Mary Stone");
    CHECK_STR(found(&al_detector_person, name, "The letter came from Ms. Park."), "Ms. Park");
    CHECK_STR(found(&al_detector_person, name, "Dr. Hall Road is closed."), "");
    CHECK_STR(found(&al_detector_person, strong, "From: Sydney Harbour"), "");
    CHECK_STR(found(&al_detector_person, strong, "To: Paris\nFrom: Berlin\n"), "");
    al_detector_person.free_state(strong);
    al_detector_person.free_state(name);
}

/* "name's" introduces a lone surname as "name is" does: the fast pass
 * over plain words no longer passes over the word after "'s". */
TEST(my_names_introduces_a_lone_surname)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_person, strong, "My name's Okafor."), "Okafor");
    CHECK_STR(found(&al_detector_person, strong, "Hi, my name's Whitfield and I need help."),
              "Whitfield");
    CHECK_STR(found(&al_detector_person, strong, "That's Okafor's car."), "");
    CHECK_STR(found(&al_detector_person, strong, "The team's Whitfield report is due."), "");
    al_detector_person.free_state(strong);
}

/* A chat line's time stamp may have seconds or am/pm ("[10:42:07]", "[9:05
 * PM]") before the speaker's label; a numbered reference "[1]" is none. */
TEST(a_speakers_label_after_a_time_stamp_with_seconds_is_strong)
{
    void *strong = load(&al_detector_person, "{\"evidence\":\"strong\"}");
    REQUIRE(strong);
    CHECK_STR(found(&al_detector_person, strong, "[10:42:07] Marco Rossi: the parcel"),
              "Marco Rossi");
    CHECK_STR(found(&al_detector_person, strong, "Log\n[9:05 PM] Laura Bennett: the parcel"),
              "Laura Bennett");
    CHECK_STR(found(&al_detector_person, strong, "[1] Robert Frost: a poet."), "");
    CHECK_STR(found(&al_detector_person, strong, "See [10:42] Robert Frost: a poet."), "");
    al_detector_person.free_state(strong);
}

/* The chat and call forms read words and bytes before the name (a time
 * stamp back to its '[', "name's", "Good morning", "Hi, this is"): a
 * stream window that grew or slid on finds what the window alone finds. */
TEST(chat_forms_in_a_window_that_slid_on_are_scanned_as_if_alone)
{
    static const char *const parts[] = {
        "[10:42:07] Marco Rossi: hi, my parcel never came.\n",
        "Agent: Good morning Mrs. Hall, thanks for waiting.\n",
        "Laura Bennett: my name's Okafor on the old account.\n",
        "[9:05 pm] Dana Whitfield: Hi, this is Peter Hall from billing.\n",
        "Support: Hello, it's Mary Hill again; Mr and Mrs Patel called.\n",
        "[1] Robert Frost: a poet of the north, read in every school.\n"};
    const size_t np = sizeof parts / sizeof parts[0];
    char text[4096];
    size_t len = 0;
    for (int r = 0; r < 4; r++)
        for (size_t i = 0; i < np; i++) {
            const char *p = parts[(i * 5 + r) % np];
            size_t n = strlen(p);
            if (len + n >= sizeof text) break;
            memcpy(text + len, p, n);
            len += n;
        }
    void *st = load(&al_detector_person, NULL);
    REQUIRE(st);
    static char win[1024], a[4096], b[4096];
    int same = 1;
    for (size_t end = 1, start = 0, step = 0; end <= len; end += 1 + step % 7, step++) {
        if (end - start > 300) start = end - 220 - step % 41;
        size_t n = end - start;
        memcpy(win, text + start, n);
        if (!scanned_as_if_alone(&al_detector_person, st, win, n, a, b, sizeof a)) {
            fprintf(stderr, "  window %zu..%zu: %s / %s\n", start, end, a, b);
            same = 0;
        }
    }
    CHECK(same);
    al_detector_person.free_state(st);
}
