"""khal's configuration for the interop checks: calendars by name and folder, Berlin time."""


def khal_conf(calendars, default=None):
    """The text of a khal config with `calendars` ({name: folder}) in Europe/Berlin."""
    cals = "".join(f"[[{name}]]\npath = {path}\ntype = calendar\n" for name, path in calendars.items())
    text = f"""[calendars]
{cals}
[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
local_timezone = Europe/Berlin
default_timezone = Europe/Berlin
"""
    if default:
        text += f"\n[default]\ndefault_calendar = {default}\n"
    return text
