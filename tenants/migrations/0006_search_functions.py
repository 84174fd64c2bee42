"""Functions of the search engine, created once in `public`, which every schema's path reaches.

`mycrm_fold(text)` lowercases and folds Latin letters to their plain form ("Zoë Müller" →
"zoe muller", "Łódź" → "lodz", "Straße" → "strasse"); `mycrm_typo_keys(text)` gives the keys
that let a word be found with one letter wrong, missing or added: each word of four letters
or more, folded, and that word less each one of its letters (a "deletion neighbourhood": two
words one edit apart share a key). Both are IMMUTABLE so that tenant tables can index
expressions over them; an index definition that names them is rendered as `public.…` in the
schema snapshot, and replays unchanged into a new organization's schema.

They are SQL of ours rather than the `unaccent` and `pg_trgm` extensions, which the embedded
PostgreSQL the devstack runs does not ship: see docs/architecture.md ("Search").
"""

from django.db import migrations

FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝàáâãäåçèéêëìíîïðñòóôõöøùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĐđĒēĔĕĖ"
    "ėĘęĚěĜĝĞğĠġĢģĤĥĦħĨĩĪīĬĭĮįıĴĵĶķĹĺĻļĽľĿŀŁłŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŦŧŨũŪūŬŭŮů"
    "ŰűŲųŴŵŶŷŸŹźŻżŽžſƀƗƚƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕ"
    "ȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳȽɃɄḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶ"
    "ḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆ"
    "ẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớ"
    "ỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ"
)
FOLD_TO = (
    "aaaaaaceeeeiiiidnoooooouuuuyaaaaaaceeeeiiiidnoooooouuuuyyaaaaaaccccccccddddeeeee"
    "eeeeegggggggghhhhiiiiiiiiijjkkllllllllllnnnnnnoooooorrrrrrssssssssttttttuuuuuuuu"
    "uuuuwwyyyzzzzzzsbiloouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeeeiiiioooorrrruu"
    "uusstthhaaeeooooooooyylbuaabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkl"
    "lllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwww"
    "wwwxxxxyyzzzzzzhtwysaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooooooo"
    "oooooooouuuuuuuuuuuuuuyyyyyyyy"
)
# Letters that fold to two: Straße → strasse.
EXPANSIONS = [
    ("ß", "ss"),
    ("ẞ", "ss"),
    ("æ", "ae"),
    ("Æ", "ae"),
    ("œ", "oe"),
    ("Œ", "oe"),
    ("þ", "th"),
    ("Þ", "th"),
    ("ĳ", "ij"),
    ("Ĳ", "ij"),
]

_folded = f"translate(lower($1), '{FOLD_FROM}', '{FOLD_TO}')"
for letter, plain in EXPANSIONS:
    _folded = f"replace({_folded}, '{letter}', '{plain}')"

FOLD = f"""
CREATE OR REPLACE FUNCTION public.mycrm_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN {_folded}
"""

TYPO_KEYS = """
CREATE OR REPLACE FUNCTION public.mycrm_typo_keys(text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
  SELECT coalesce(array_agg(DISTINCT CASE WHEN i = 0 THEN w
                                          ELSE left(w, i - 1) || substr(w, i + 1) END),
                  '{}'::text[])
  FROM regexp_split_to_table(public.mycrm_fold($1), '[[:space:][:punct:]]+') AS w,
       generate_series(0, length(w)) AS i
  WHERE length(w) >= 4;
END
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0005_host_announcement")]

    operations = [
        migrations.RunSQL(
            [FOLD, TYPO_KEYS],
            [
                "DROP FUNCTION IF EXISTS public.mycrm_typo_keys(text)",
                "DROP FUNCTION IF EXISTS public.mycrm_fold(text)",
            ],
        )
    ]
