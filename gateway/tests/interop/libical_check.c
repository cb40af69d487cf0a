/* libical's own judgement of an iCalendar file: its parser marks every property or value it
 * cannot read with an X-LIC-ERROR, and icalrestriction_check adds one for every RFC 5545
 * restriction broken (a required property missing, one that may occur once occurring twice).
 * Evolution and other libical-based clients read DisCal's feeds this way and drop what it
 * marks. Prints each mark and exits 1 if there is any.
 * Usage: libical_check FEED.ics   (cc libical_check.c -lical) */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>

static int marks;

static void walk(icalcomponent *c) {
    /* Read before iterating: any get_first on c restarts c's property iterator. */
    icalproperty *uid = icalcomponent_get_first_property(c, ICAL_UID_PROPERTY);
    const char *id = uid ? icalproperty_get_uid(uid) : "-";
    icalproperty *p;
    for (p = icalcomponent_get_first_property(c, ICAL_XLICERROR_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_XLICERROR_PROPERTY)) {
        fprintf(stderr, "%s %s: %s\n", icalcomponent_kind_to_string(icalcomponent_isa(c)), id,
                icalproperty_get_xlicerror(p));
        marks++;
    }
    icalcomponent *k;
    for (k = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); k;
         k = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT))
        walk(k);
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1);
    if (!buf || fread(buf, 1, n, f) != (size_t)n) return 2;
    buf[n] = 0;
    icalcomponent *cal = icalparser_parse_string(buf);
    if (!cal) {
        fprintf(stderr, "%s: libical could not parse it\n", argv[1]);
        return 1;
    }
    icalrestriction_check(cal);
    walk(cal);
    printf("libical: %s: %d marks\n", argv[1], marks);
    return marks ? 1 : 0;
}
