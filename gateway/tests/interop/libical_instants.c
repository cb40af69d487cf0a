/* libical (the C library behind Evolution, KDE's older stack and many servers) expands every
 * event of an iCalendar file: one line per instance, "UID<TAB>START<TAB>END" in UTC, for
 * instances starting from 2026-12-01 to 2028-02-01 (the checker cuts them to its window).
 * RECURRENCE-ID overrides replace the instance they name, as clients apply them; libical's
 * own expansion (icalcomponent_foreach_recurrence) does RRULE, RDATE and EXDATE.
 * libical's expansion reads an RDATE's time without its TZID (as icalcomponent_get_recurrenceid
 * does), so zoned RDATEs are first converted to UTC with the calendar's VTIMEZONE, as
 * libical-based clients (Evolution's e-cal-recur) resolve zones themselves.
 * Floating and all-day events are skipped: their instants depend on the reader's zone.
 * Usage: libical_instants FEED.ics > OUT.tsv   (cc libical_instants.c -lical) */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct override { const char *uid; time_t rid; };
static struct override overrides[4096];
static int n_overrides;

static void print_span(const char *uid, time_t s, time_t e) {
    char a[32], b[32];
    strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", gmtime(&s));
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", gmtime(&e));
    printf("%s\t%s\t%s\n", uid, a, b);
}

static time_t instant(struct icaltimetype t) {
    const icaltimezone *z = t.zone ? t.zone : icaltimezone_get_utc_timezone();
    return icaltime_as_timet_with_zone(t, z);
}

/* icalcomponent_get_recurrenceid does not look the TZID up in the calendar's VTIMEZONEs. */
static time_t recurrence_id(icalcomponent *cal, icalcomponent *c) {
    struct icaltimetype t = icalcomponent_get_recurrenceid(c);
    icalproperty *p = icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY);
    icalparameter *tz = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    if (tz && !t.zone) {
        icaltimezone *z = icalcomponent_get_timezone(cal, icalparameter_get_tzid(tz));
        if (z) t = icaltime_set_timezone(&t, z);
    }
    return instant(t);
}

static void rdates_to_utc(icalcomponent *cal, icalcomponent *c) {
    icalproperty *p;
    for (p = icalcomponent_get_first_property(c, ICAL_RDATE_PROPERTY); p;
         p = icalcomponent_get_next_property(c, ICAL_RDATE_PROPERTY)) {
        icalparameter *tz = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
        struct icaldatetimeperiodtype v = icalproperty_get_rdate(p);
        if (!tz || icaltime_is_null_time(v.time) || v.time.is_date) continue;
        icaltimezone *z = icalcomponent_get_timezone(cal, icalparameter_get_tzid(tz));
        if (!z) continue;
        v.time = icaltime_set_timezone(&v.time, z);
        v.time = icaltime_convert_to_zone(v.time, icaltimezone_get_utc_timezone());
        icalproperty_set_rdate(p, v);
        icalproperty_remove_parameter_by_kind(p, ICAL_TZID_PARAMETER);
    }
}

static int fixed(icalcomponent *c) {
    struct icaltimetype t = icalcomponent_get_dtstart(c);
    return !t.is_date && (t.zone != NULL || icaltime_is_utc(t));
}

static void instance(icalcomponent *c, struct icaltime_span *span, void *data) {
    const char *uid = icalcomponent_get_uid(c);
    (void)data;
    for (int i = 0; i < n_overrides; i++)
        if (overrides[i].rid == span->start && strcmp(overrides[i].uid, uid) == 0) return;
    print_span(uid, span->start, span->end);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: libical_instants FEED.ics\n"); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n + 1);
    if (!buf || fread(buf, 1, n, f) != (size_t)n) { perror("read"); return 2; }
    buf[n] = 0;
    icalcomponent *cal = icalparser_parse_string(buf);
    if (!cal) { fprintf(stderr, "libical: not iCalendar: %s\n", icalerror_strerror(icalerrno)); return 1; }
    icalcomponent *c;
    for (c = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
        if (!icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) || !fixed(c)) continue;
        if (n_overrides == 4096) { fprintf(stderr, "too many overrides\n"); return 2; }
        overrides[n_overrides].uid = icalcomponent_get_uid(c);
        overrides[n_overrides].rid = recurrence_id(cal, c);
        n_overrides++;
        struct icaltimetype s = icalcomponent_get_dtstart(c), e = icalcomponent_get_dtend(c);
        print_span(icalcomponent_get_uid(c), instant(s), icaltime_is_null_time(e) ? instant(s) : instant(e));
    }
    struct icaltimetype from = icaltime_from_string("20261201T000000Z");
    struct icaltimetype to = icaltime_from_string("20280201T000000Z");
    for (c = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); c;
         c = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
        if (icalcomponent_get_first_property(c, ICAL_RECURRENCEID_PROPERTY) || !fixed(c)) continue;
        rdates_to_utc(cal, c);
        icalcomponent_foreach_recurrence(c, from, to, instance, NULL);
    }
    icalcomponent_free(cal);
    free(buf);
    return 0;
}
