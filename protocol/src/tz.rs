//! Time-zone names as real feeds write them, mapped to IANA zones.
//!
//! Google and Apple write IANA names; Outlook writes Windows names ("W. Europe Standard Time") or
//! display names ("(UTC+01:00) Amsterdam, Berlin, …"); Thunderbird and some servers prefix IANA
//! names with a vendor path ("/mozilla.org/20050126_1/Europe/Berlin"). Everything is resolved to
//! an IANA name on import, so the stored model only ever holds IANA names.

use chrono_tz::Tz;

/// Windows zone name → IANA zone (CLDR windowsZones.xml, territory "001").
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("UTC-09", "Etc/GMT+9"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("UTC-08", "Etc/GMT+8"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Yukon Standard Time", "America/Whitehorse"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Eastern Standard Time", "America/New_York"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Cuba Standard Time", "America/Havana"),
    ("US Eastern Standard Time", "America/Indiana/Indianapolis"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Argentina Standard Time", "America/Argentina/Buenos_Aires"),
    ("Greenland Standard Time", "America/Nuuk"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Bahia Standard Time", "America/Bahia"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kyiv"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Kathmandu"),
    ("Central Asia Standard Time", "Asia/Almaty"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("Myanmar Standard Time", "Asia/Yangon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("UTC+12", "Etc/GMT-12"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("UTC+13", "Etc/GMT-13"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
];

/// Parses an IANA name exactly as chrono-tz knows it (its database includes the backward links,
/// so old names like `Asia/Calcutta` resolve too).
pub fn iana(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// Resolves a TZID as found in the wild to an IANA zone, or `None` if nothing matches.
pub fn resolve_tzid(raw: &str) -> Option<Tz> {
    let name = raw.trim().trim_matches('"').trim();
    if name.is_empty() {
        return None;
    }
    if let Some(tz) = iana(name) {
        return Some(tz);
    }
    if let Some((_, tz)) = WINDOWS_ZONES
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(name))
    {
        return iana(tz);
    }
    // Vendor prefixes: try the last three, then the last two path segments, then the last one
    // (`/citadel.org/20260108_1/Poland`: the database's one-word names are links too).
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    let takes: &[usize] = if parts.len() > 1 { &[3, 2, 1] } else { &[3, 2] };
    for &take in takes {
        if parts.len() >= take {
            if let Some(tz) = iana(&parts[parts.len() - take..].join("/")) {
                return Some(tz);
            }
        }
    }
    // RFC 2445's examples named zones `US-Eastern`, and files from that era (and test suites
    // copied from it) still do, often without a VTIMEZONE: the database's `US/Eastern`.
    if let Some((area, place)) = name.split_once('-') {
        if !area.is_empty() && !place.is_empty() && !area.contains('/') {
            if let Some(tz) = iana(&format!("{area}/{place}")) {
                return Some(tz);
            }
        }
    }
    if let Some((_, tz)) = OTHER_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return iana(tz);
    }
    from_display_name(name)
}

/// Names other exporters write for a zone, often without a VTIMEZONE: Lotus Notes' name for
/// Windows' "W. Europe Standard Time" (seen in this repository's wild corpus and in
/// python-icalendar's issue 526, the latter with no VTIMEZONE).
const OTHER_NAMES: &[(&str, &str)] = &[
    ("Western/Central Europe", "Europe/Berlin"),
    // Outlook's UTC, written without a VTIMEZONE.
    ("tzone://Microsoft/Utc", "Etc/UTC"),
];

/// Windows display names whose places are not IANA city names, by a phrase they contain.
const DISPLAY_PHRASES: &[(&str, &str)] = &[
    ("Eastern Time (US & Canada)", "America/New_York"),
    ("Central Time (US & Canada)", "America/Chicago"),
    ("Mountain Time (US & Canada)", "America/Denver"),
    ("Pacific Time (US & Canada)", "America/Los_Angeles"),
    ("Atlantic Time (Canada)", "America/Halifax"),
    ("Brasilia", "America/Sao_Paulo"),
    ("Brasília", "America/Sao_Paulo"),
    ("Coordinated Universal Time", "Etc/UTC"),
    ("New Delhi", "Asia/Kolkata"),
    ("Beijing", "Asia/Shanghai"),
];

/// Outlook sometimes writes the Windows *display* name: "(UTC+01:00) Amsterdam, Berlin, Bern, …",
/// also with "US and Canada" for "US & Canada" (node-ical's tests), or only its list of places
/// ("Amsterdam, Belgrade, Berlin, …", two or more). The cities listed are IANA city names often
/// enough that the first one that names a zone wins.
fn from_display_name(name: &str) -> Option<Tz> {
    let prefixed = name
        .strip_prefix("(UTC")
        .or_else(|| name.strip_prefix("(GMT"));
    let cities = match prefixed {
        Some(rest) => &rest[rest.find(')')? + 1..],
        None if name.contains(',') => name,
        None => return None,
    };
    let cities = cities.replace(" and Canada)", " & Canada)");
    if let Some((_, tz)) = DISPLAY_PHRASES.iter().find(|(p, _)| cities.contains(p)) {
        return iana(tz);
    }
    for city in cities.split(',') {
        let city = city.trim().replace(' ', "_");
        if city.is_empty() {
            continue;
        }
        if let Some(tz) = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().rsplit('/').next() == Some(city.as_str()))
        {
            return Some(*tz);
        }
    }
    None
}

/// Zones with a fixed offset that is not a whole number of hours, for offset names.
const FRACTIONAL: &[(i32, &str)] = &[
    (-9 * 60 - 30, "Pacific/Marquesas"),
    (3 * 60 + 30, "Asia/Tehran"),
    (4 * 60 + 30, "Asia/Kabul"),
    (5 * 60 + 30, "Asia/Kolkata"),
    (5 * 60 + 45, "Asia/Kathmandu"),
    (6 * 60 + 30, "Asia/Yangon"),
    (8 * 60 + 45, "Australia/Eucla"),
    (9 * 60 + 30, "Australia/Darwin"),
];

/// A TZID that is nothing but a UTC offset (`UTC+11`, `GMT-03:00`, `GMT +0100`, `+05:30`) as
/// the fixed-offset zone it names. A name with two offsets (standard and daylight, for which
/// see [`two_offset_zone`]) or with anything else in it gives `None`.
pub fn offset_zone(raw: &str) -> Option<Tz> {
    let minutes = offset_minutes(raw)?;
    let (h, m) = (minutes.abs() / 60, minutes.abs() % 60);
    if m == 0 {
        // Etc/GMT's signs are POSIX's: Etc/GMT-11 is eleven hours east of Greenwich.
        return match h {
            0 => iana("Etc/UTC"),
            _ => iana(&format!("Etc/GMT{:+}", -minutes.signum() * h)),
        };
    }
    FRACTIONAL
        .iter()
        .find(|(m, _)| *m == minutes)
        .and_then(|(_, z)| iana(z))
}

/// Minutes east of UTC of a name that is nothing but an offset: `UTC+11`, `GMT-03:00`,
/// `(UTC-03:00)`, `GMT +0100`, `+05:30`, Lotus Notes' `GMT-05.00`.
fn offset_minutes(raw: &str) -> Option<i32> {
    let name = raw.trim().trim_matches('"').trim();
    let upper = name.to_ascii_uppercase();
    let rest = upper
        .strip_prefix("(UTC")
        .or_else(|| upper.strip_prefix("(GMT"))
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| upper.strip_prefix("UTC"))
        .or_else(|| upper.strip_prefix("GMT"))
        .unwrap_or(&upper)
        .trim();
    let (sign, digits) = match rest.as_bytes().first()? {
        b'+' => (1, rest[1..].trim()),
        b'-' => (-1, rest[1..].trim()),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| !matches!(c, ':' | '.')).collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        3 => (
            digits[..1].parse::<i32>().ok()?,
            digits[1..].parse::<i32>().ok()?,
        ),
        _ => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
    };
    if h > 14 || m >= 60 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// The zones people mean by a pair of standard and daylight offsets, east of UTC in minutes:
/// for each pair, the zone with those offsets that most people who write them live in.
const TWO_OFFSETS: &[(i32, i32, &str)] = &[
    (-10 * 60, -9 * 60, "America/Adak"),
    (-9 * 60, -8 * 60, "America/Anchorage"),
    (-8 * 60, -7 * 60, "America/Los_Angeles"),
    (-7 * 60, -6 * 60, "America/Denver"),
    (-6 * 60, -5 * 60, "America/Chicago"),
    (-5 * 60, -4 * 60, "America/New_York"),
    (-4 * 60, -3 * 60, "America/Halifax"),
    (-3 * 60 - 30, -2 * 60 - 30, "America/St_Johns"),
    (0, 60, "Europe/London"),
    (60, 2 * 60, "Europe/Berlin"),
    (2 * 60, 3 * 60, "Europe/Helsinki"),
    (9 * 60 + 30, 10 * 60 + 30, "Australia/Adelaide"),
    (10 * 60, 11 * 60, "Australia/Sydney"),
    (12 * 60, 13 * 60, "Pacific/Auckland"),
];

/// A TZID that names a standard and a daylight offset and nothing else (Lotus Notes writes
/// `GMT-05.00/-04.00` with no VTIMEZONE; `GMT +0100 (Standard) / GMT +0200 (Daylight)` is
/// another) as the best-known zone with that pair (`America/New_York`, `Europe/Berlin`, …);
/// `None` for any other name or pair. Other zones share some pairs on other dates of change
/// (Chile's -04/-03 is not Halifax's), so the importer says which zone it took.
pub fn two_offset_zone(raw: &str) -> Option<Tz> {
    let name = raw.trim().trim_matches('"');
    let (a, b) = name.split_once('/')?;
    let strip = |s: &str| {
        let s = s.trim();
        let s = s
            .strip_suffix("(Standard)")
            .or_else(|| s.strip_suffix("(Daylight)"))
            .unwrap_or(s);
        offset_minutes(s.trim())
    };
    let (standard, daylight) = (strip(a)?, strip(b)?);
    TWO_OFFSETS
        .iter()
        .find(|(s, d, _)| (*s, *d) == (standard, daylight))
        .and_then(|(_, _, z)| iana(z))
}

/// Well-known zones, tried first when a zone's rules are compared with the database: many IANA
/// zones share each set of rules, and the one people know is the one to pick.
const PREFERRED: &[&str] = &[
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Europe/Moscow",
    "Etc/UTC",
];

/// Every IANA zone, well-known ones first (a short list, then the Windows mapping's zones,
/// which CLDR chose as each region's representative), then the rest of the database.
pub fn candidates() -> impl Iterator<Item = Tz> {
    PREFERRED
        .iter()
        .copied()
        .chain(WINDOWS_ZONES.iter().map(|(_, z)| *z))
        .filter_map(iana)
        .chain(chrono_tz::TZ_VARIANTS.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_mapping_names_a_real_zone() {
        for (w, i) in WINDOWS_ZONES {
            assert!(iana(i).is_some(), "{w} -> {i} is not in the tz database");
        }
    }

    #[test]
    fn resolves_what_real_exports_write() {
        let cases = [
            ("Europe/Berlin", "Europe/Berlin"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Eastern Standard Time", "America/New_York"),
            ("\"Pacific Standard Time\"", "America/Los_Angeles"),
            ("/mozilla.org/20050126_1/Europe/Berlin", "Europe/Berlin"),
            (
                "/citadel.org/20190103_1/America/Argentina/Buenos_Aires",
                "America/Argentina/Buenos_Aires",
            ),
            (
                "(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
                "Europe/Amsterdam",
            ),
            ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
            // node-ical's tests: "and" for "&", and the places without the offset.
            (
                "(UTC-05:00) Eastern Time (US and Canada)",
                "America/New_York",
            ),
            (
                "Amsterdam, Belgrade, Berlin, Brussels, Budapest, Madrid, Paris, Prague, Stockholm",
                "Europe/Amsterdam",
            ),
            ("Nowhere, Elsewhere", ""),
            ("(UTC-03:00) Brasília", "America/Sao_Paulo"),
            ("(UTC+02:00) Nowhere Town", ""),
            ("/Europe/Stockholm", "Europe/Stockholm"),
            ("US-Eastern", "US/Eastern"),
            ("US-Mountain", "US/Mountain"),
            ("US-East-Indiana", "US/East-Indiana"),
            ("Canada-Pacific", "Canada/Pacific"),
            ("Nowhere-Land", ""),
            ("Western/Central Europe", "Europe/Berlin"),
            // Citadel's and libical's prefixed one-word names.
            ("/citadel.org/20260108_1/Japan", "Japan"),
            ("/citadel.org/20260108_1/UTC", "UTC"),
            ("Nowhere", ""),
        ];
        for (raw, want) in cases {
            let got = resolve_tzid(raw).map(|t| t.name().to_string());
            if want.is_empty() {
                assert_eq!(got, None, "{raw}");
            } else {
                assert_eq!(got.as_deref(), Some(want), "{raw}");
            }
        }
        assert_eq!(resolve_tzid("Mars/Olympus_Mons"), None);
    }

    #[test]
    fn offset_names_are_fixed_zones() {
        for (raw, want) in [
            ("UTC+11", Some("Etc/GMT-11")),
            ("GMT-3", Some("Etc/GMT+3")),
            ("GMT +0100", Some("Etc/GMT-1")),
            ("(UTC-03:00)", Some("Etc/GMT+3")),
            ("UTC+05:30", Some("Asia/Kolkata")),
            ("+0000", Some("Etc/UTC")),
            ("GMT +0100 (Standard) / GMT +0200 (Daylight)", None),
            ("GMT-05.00", Some("Etc/GMT+5")),
            ("UTC+25", None),
            ("Mars", None),
            ("UTC+02:17", None),
        ] {
            assert_eq!(offset_zone(raw).map(|t| t.name()), want, "{raw}");
        }
    }

    #[test]
    fn two_offset_names_are_the_best_known_zone_with_them() {
        for (raw, want) in [
            ("\"GMT-05.00/-04.00\"", Some("America/New_York")),
            ("GMT+01.00/+02.00", Some("Europe/Berlin")),
            (
                "GMT +0100 (Standard) / GMT +0200 (Daylight)",
                Some("Europe/Berlin"),
            ),
            ("GMT-08.00/GMT-07.00", Some("America/Los_Angeles")),
            ("GMT+10.00/+11.00", Some("Australia/Sydney")),
            // A pair no zone people write has, a reversed pair, and names that are not pairs.
            ("GMT+05.00/+06.00", None),
            ("GMT-04.00/-05.00", None),
            ("Europe/Berlin", None),
            ("GMT-05.00", None),
        ] {
            assert_eq!(two_offset_zone(raw).map(|t| t.name()), want, "{raw}");
        }
    }
}
