"""Dates and times as every page of the product writes them, in English: "Dec 6, 2026" and
"Dec 6, 2026, 14:05" (24-hour clock), the same on lists, record pages and the board."""

DATE_FORMAT = "M j, Y"
DATETIME_FORMAT = "M j, Y, H:i"
TIME_FORMAT = "H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "M j"
YEAR_MONTH_FORMAT = "F Y"
