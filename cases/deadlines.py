"""Legal response deadlines for data subject requests: dates in, dates out.

Pure date arithmetic with no database and no settings, so it runs without Django configured.
`RULES` is the table officers see: one `DeadlineRule` per law, each with its legal source.

Conventions, chosen on the side of answering early:

- A period runs from the day after receipt ("within N days after receipt"); a month period ends
  on the same date of the later month, or that month's last day where the date does not exist.
- A deadline that falls on a weekend or holiday is not moved later (some laws would allow it,
  e.g. Regulation 1182/71 Art. 3(4) for GDPR; answering by the earlier date is always lawful).
- An extension is added to the due date it extends, in the extension's own unit.
"""

import calendar
import enum
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from cases.choices import Regulation, regulation_error

__all__ = [
    "ACKNOWLEDGEMENT_RULES",
    "BAND_DUE_SOON",
    "BAND_DUE_TEN",
    "BAND_LATER",
    "BAND_OVERDUE",
    "DEADLINE_BANDS",
    "DUE_SOON_DAYS",
    "DUE_TEN_DAYS",
    "MATARIKI_DAYS",
    "RULES",
    "AcknowledgementRule",
    "DeadlineError",
    "DeadlineRule",
    "Period",
    "Unit",
    "acknowledge_by",
    "acknowledgement_rule",
    "add_business_days",
    "add_months",
    "add_nz_working_days",
    "days_left",
    "deadline_band",
    "due_date",
    "easter_sunday",
    "extended_due_date",
    "is_nz_working_day",
    "latest_allowed_due_date",
    "nz_public_holidays",
    "nz_working_days_between",
    "remaining_on_hold",
    "resume_due_date",
    "rule_for",
]


class DeadlineError(ValueError):
    """The law gives no answer: unknown regulation, or an extension it does not allow."""


# --- Calendar months -------------------------------------------------------------------------


def add_months(d: date, months: int) -> date:
    """The same date `months` later (or earlier), clamped to the last day of a shorter month.

    31 Jan + 1 month = 28 Feb (29 Feb in a leap year); 31 Mar + 1 month = 30 Apr.
    """
    year, month_index = divmod(d.year * 12 + d.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


# --- New Zealand working days (Privacy Act 2020, s 7 "working day") --------------------------

# Te Kāhui o Matariki Public Holiday Act 2022, Schedule 1: the observance day for 2022-2052.
# The Act fixes no dates after 2052; later years need the next schedule (until then no Matariki
# day is excluded, which gives an earlier, never a later, deadline).
MATARIKI_DAYS: dict[int, date] = {
    year: date(year, month, day)
    for year, month, day in [
        (2022, 6, 24), (2023, 7, 14), (2024, 6, 28), (2025, 6, 20), (2026, 7, 10),
        (2027, 6, 25), (2028, 7, 14), (2029, 7, 6), (2030, 6, 21), (2031, 7, 11),
        (2032, 7, 2), (2033, 6, 24), (2034, 7, 7), (2035, 6, 29), (2036, 7, 18),
        (2037, 7, 10), (2038, 6, 25), (2039, 7, 15), (2040, 7, 6), (2041, 7, 19),
        (2042, 7, 11), (2043, 7, 3), (2044, 6, 24), (2045, 7, 7), (2046, 6, 29),
        (2047, 7, 19), (2048, 7, 3), (2049, 6, 25), (2050, 7, 15), (2051, 6, 30),
        (2052, 6, 21),
    ]
}  # fmt: skip

_MONDAY = 0


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday by the anonymous (Meeus/Jones/Butcher) algorithm."""
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    lunar_correction = (century - (century + 8) // 25 + 1) // 3
    epact = (19 * golden + century - leap_centuries - lunar_correction + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    weekday_shift = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    correction = (golden + 11 * epact + 22 * weekday_shift) // 451
    month, day = divmod(epact + weekday_shift - 7 * correction + 114, 31)
    return date(year, month, day + 1)


def _nth_monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(_MONDAY - first.weekday()) % 7 + 7 * (n - 1))


def _mondayised(d: date) -> date:
    """The following Monday when `d` falls on a weekend (s 7 "working day", para (ab))."""
    return d + timedelta(days=(7 - d.weekday()) % 7) if d.weekday() >= 5 else d


@cache
def nz_public_holidays(year: int) -> frozenset[date]:
    """The holidays the Privacy Act 2020 s 7 "working day" excludes, outside the summer break.

    Christmas, Boxing Day and New Year fall in the 25 Dec - 15 Jan break, so they need no entry;
    regional anniversary days are not excluded by the Act.
    """
    easter = easter_sunday(year)
    holidays = {
        _mondayised(date(year, 2, 6)),  # Waitangi Day, Mondayised from 2014
        easter - timedelta(days=2),  # Good Friday
        easter + timedelta(days=1),  # Easter Monday
        _mondayised(date(year, 4, 25)),  # ANZAC Day, Mondayised from 2014
        _nth_monday(year, 6, 1),  # Sovereign's (King's) Birthday: first Monday in June
        _nth_monday(year, 10, 4),  # Labour Day: fourth Monday in October
    }
    if year in MATARIKI_DAYS:
        holidays.add(MATARIKI_DAYS[year])
    return frozenset(holidays)


def _in_summer_break(d: date) -> bool:
    """25 December to 15 January inclusive (s 7 "working day", para (b))."""
    return (d.month == 12 and d.day >= 25) or (d.month == 1 and d.day <= 15)


def is_nz_working_day(d: date) -> bool:
    """Whether `d` is a working day under the Privacy Act 2020 s 7."""
    if d.weekday() >= 5 or _in_summer_break(d):
        return False
    return d not in nz_public_holidays(d.year)


def add_nz_working_days(start: date, n: int) -> date:
    """The nth working day after `start`; `start` itself never counts (s 44: "after the day on
    which the request is received")."""
    if n < 0:
        raise ValueError(f"Cannot add a negative number of working days ({n}).")
    current = start
    while n:
        current += timedelta(days=1)
        if is_nz_working_day(current):
            n -= 1
    return current


def nz_working_days_between(start: date, end: date) -> int:
    """How many working days fall after `start`, up to and including `end` (0 if end <= start)."""
    span = (end - start).days
    return sum(is_nz_working_day(start + timedelta(days=i)) for i in range(1, span + 1))


# --- Periods and rules -----------------------------------------------------------------------


class Unit(enum.StrEnum):
    MONTHS = "months"
    DAYS = "days"  # calendar days
    NZ_WORKING_DAYS = "nz_working_days"


@dataclass(frozen=True)
class Period:
    """A legal time limit: `amount` of `unit`, counted from the day after its start."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise ValueError(f"A legal period must be at least 1 {self.unit}, not {self.amount}.")

    def __str__(self) -> str:
        plural = "" if self.amount == 1 else "s"
        if self.unit is Unit.MONTHS:
            return f"{self.amount} calendar month{plural}"
        if self.unit is Unit.DAYS:
            return f"{self.amount} calendar day{plural}"
        return f"{self.amount} working day{plural} (NZ)"

    def after(self, start: date) -> date:
        """The last day of this period when it starts running on `start`."""
        if self.unit is Unit.MONTHS:
            return add_months(start, self.amount)
        if self.unit is Unit.DAYS:
            return start + timedelta(days=self.amount)
        return add_nz_working_days(start, self.amount)


def _months(n: int) -> Period:
    return Period(n, Unit.MONTHS)


def _days(n: int) -> Period:
    return Period(n, Unit.DAYS)


@dataclass(frozen=True, kw_only=True)
class DeadlineRule:
    """How long a law gives to answer a request, and where the law says so."""

    regulations: tuple[str, ...]
    label: str
    period: Period
    extension: Period | None  # None: the law allows no extension
    extension_note: str = ""
    acknowledge_note: str = ""
    source: str
    source_url: str


_US_EXTENSION_NOTE = (
    "Once, when reasonably necessary given the complexity and number of requests; tell the "
    "consumer within the initial {days} days, with the reason."
)


def _us_state(
    code: str, label: str, source: str, url: str, *, within: int = 45, extra: int = 45
) -> DeadlineRule:
    """The response clause most US state privacy laws share (modelled on Virginia's)."""
    return DeadlineRule(
        regulations=(code,),
        label=label,
        period=_days(within),
        extension=_days(extra),
        extension_note=_US_EXTENSION_NOTE.format(days=within),
        source=source,
        source_url=url,
    )


_US_STATE_RULES = (
    _us_state(
        Regulation.VCDPA_VA_USA,
        "Virginia CDPA",
        "Va. Code §59.1-577(B)(1)",
        "https://law.lis.virginia.gov/vacode/title59.1/chapter53/section59.1-577/",
    ),
    _us_state(
        Regulation.CPA_CO_USA,
        "Colorado Privacy Act",
        "C.R.S. §6-1-1306(2)(a)",
        "https://coag.gov/resources/colorado-privacy-act/",
    ),
    _us_state(
        Regulation.CTDPA_CT_USA,
        "Connecticut Data Privacy Act",
        "Conn. Gen. Stat. §42-518(c)(1)",
        "https://www.cga.ct.gov/current/pub/chap_743jj.htm",
    ),
    _us_state(
        Regulation.UCPA_UT_USA,
        "Utah Consumer Privacy Act",
        "Utah Code §13-61-203(2)",
        "https://le.utah.gov/xcode/Title13/Chapter61/13-61-S203.html",
    ),
    _us_state(
        Regulation.TDPSA_TX_USA,
        "Texas Data Privacy and Security Act",
        "Tex. Bus. & Com. Code §541.052(b)",
        "https://statutes.capitol.texas.gov/Docs/BC/htm/BC.541.htm",
    ),
    _us_state(
        Regulation.OCPA_OR_USA,
        "Oregon Consumer Privacy Act",
        "ORS 646A.576",
        "https://www.oregonlegislature.gov/bills_laws/ors/ors646A.html",
    ),
    _us_state(
        Regulation.DPDPA_DE_USA,
        "Delaware Personal Data Privacy Act",
        "6 Del. C. §12D-104(c)(1)",
        "https://delcode.delaware.gov/title6/c012d/index.html",
    ),
    _us_state(
        Regulation.FDBR_FL_USA,
        "Florida Digital Bill of Rights",
        "Fla. Stat. §501.706(2)",
        "https://www.flsenate.gov/Laws/Statutes/2024/501.706",
        extra=15,  # Florida allows one 15-day extension, not 45
    ),
    _us_state(
        Regulation.ICDPA_IA_USA,
        "Iowa Consumer Data Protection Act",
        "Iowa Code §715D.3(2)",
        "https://www.legis.iowa.gov/docs/code/715D.3.pdf",
        within=90,  # Iowa gives 90 days, then one 45-day extension
    ),
    _us_state(
        Regulation.MCDPA_MN_USA,
        "Minnesota Consumer Data Privacy Act",
        "Minn. Stat. §325M.14",
        "https://www.revisor.mn.gov/statutes/cite/325M.14",
    ),
    _us_state(
        Regulation.MCDPA_MT_USA,
        "Montana Consumer Data Privacy Act",
        "Mont. Code Ann. §30-14-2808(4)(a)",
        "https://archive.legmt.gov/bills/MCA/title_0300/chapter_0140/part_0280/section_0080/"
        "0300-0140-0280-0080.html",
    ),
    _us_state(
        Regulation.MODPA_MD_USA,
        "Maryland Online Data Privacy Act",
        "Md. Code, Com. Law §14-4605",
        "https://mgaleg.maryland.gov/mgawebsite/Laws/StatuteText?article=gcl&section=14-4605",
    ),
    _us_state(
        Regulation.NDPA_NE_USA,
        "Nebraska Data Privacy Act",
        "Neb. Rev. Stat. §87-1108(2)",
        "https://nebraskalegislature.gov/laws/statutes.php?statute=87-1108",
    ),
    _us_state(
        Regulation.NHPA_NH_USA,
        "New Hampshire Privacy Act",
        "N.H. RSA 507-H:4",
        "https://www.gencourt.state.nh.us/rsa/html/LII/507-H/507-H-mrg.htm",
    ),
    _us_state(
        Regulation.NJDPA_NJ_USA,
        "New Jersey Data Privacy Act",
        "N.J.S.A. 56:8-166.7(a)",
        "https://pub.njleg.gov/bills/2022/PL23/266_.HTM",
    ),
    _us_state(
        Regulation.TIPA_TN_USA,
        "Tennessee Information Protection Act",
        "Tenn. Code Ann. §47-18-3304(b)(1)",
        "https://wapp.capitol.tn.gov/apps/BillInfo/Default.aspx?BillNumber=HB1181&GA=113",
    ),
    _us_state(
        Regulation.MHMDA_WA_USA,
        "Washington My Health My Data Act",
        "RCW 19.373.040",
        "https://app.leg.wa.gov/RCW/default.aspx?cite=19.373.040",
    ),
)

RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule(
        regulations=(Regulation.GDPR,),
        label="EU/EEA GDPR",
        period=_months(1),
        extension=_months(2),
        extension_note=(
            "By two further months where necessary, given the complexity and number of requests; "
            "tell the subject within the first month, with the reasons."
        ),
        source="GDPR Art. 12(3)",
        source_url="https://eur-lex.europa.eu/eli/reg/2016/679/oj",
    ),
    DeadlineRule(
        regulations=(Regulation.CCPA, Regulation.CPRA_CA_USA),
        label="California CCPA/CPRA",
        period=_days(45),
        extension=_days(45),
        extension_note=(
            "Once, when reasonably necessary, up to 90 days in total; tell the consumer within "
            "the first 45 days, with the reason (11 CCR §7021(b))."
        ),
        acknowledge_note=(
            "Confirm receipt within 10 business days and say how the request will be processed "
            "(11 CCR §7021(a))."
        ),
        source="Cal. Civ. Code §1798.130(a)(2); 11 CCR §7021",
        source_url=(
            "https://leginfo.legislature.ca.gov/faces/codes_displaySection.xhtml"
            "?lawCode=CIV&sectionNum=1798.130"
        ),
    ),
    *_US_STATE_RULES,
    DeadlineRule(
        regulations=(Regulation.LGPD_BRA,),
        label="Brazil LGPD",
        period=_days(15),
        extension=None,
        extension_note=(
            "No extension. 15 days is for the full access statement (Art. 19 II); a simplified "
            "confirmation is due immediately (Art. 19 I). Small processing agents may have "
            "double periods under ANPD Resolution CD/ANPD 2/2022: check counsel."
        ),
        source="LGPD (Lei 13.709/2018) Art. 19 II",
        source_url="https://www.planalto.gov.br/ccivil_03/_ato2015-2018/2018/lei/l13709.htm",
    ),
    DeadlineRule(
        regulations=(Regulation.NZPA_NZL,),
        label="New Zealand Privacy Act 2020",
        period=Period(20, Unit.NZ_WORKING_DAYS),
        extension=Period(20, Unit.NZ_WORKING_DAYS),
        extension_note=(
            "Extension for a reasonable period by notice within the first 20 working days, with "
            "its length and reasons and the right to complain (s 48). The Act sets no maximum; "
            "modelled here as up to 20 more working days: check counsel before going further."
        ),
        source="Privacy Act 2020 (NZ) s 44; s 48 (extension); s 7 (working day)",
        source_url="https://www.legislation.govt.nz/act/public/2020/0031/latest/whole.html",
    ),
    DeadlineRule(
        regulations=(Regulation.PDPA_THA,),
        label="Thailand PDPA",
        period=_days(30),
        extension=None,
        extension_note="No extension: without delay, and no later than 30 days from receipt.",
        source="Personal Data Protection Act B.E. 2562 (2019) s 30",
        source_url="https://www.ratchakitcha.soc.go.th/DATA/PDF/2562/A/069/T_0052.PDF",
    ),
    DeadlineRule(
        regulations=(Regulation.APA_AUS,),
        label="Australia Privacy Act 1988 (APP 12)",
        period=_days(30),
        extension=None,
        extension_note=(
            "No extension. Agencies: 30 days (APP 12.4(a)(i)). Organisations: a reasonable "
            "period, which the OAIC says should generally not exceed 30 calendar days."
        ),
        source="Privacy Act 1988 (Cth) Sch 1, APP 12.4(a); OAIC APP Guidelines ch 12",
        source_url=(
            "https://www.oaic.gov.au/privacy/australian-privacy-principles/"
            "australian-privacy-principles-guidelines/chapter-12-app-12-access-to-personal-information"
        ),
    ),
    DeadlineRule(
        regulations=(Regulation.QL25_QC_CAN,),
        label="Quebec private sector Act (Law 25)",
        period=_days(30),
        extension=None,
        extension_note=(
            "No extension in the private sector Act; no answer within 30 days is deemed a refusal."
        ),
        source="Act respecting the protection of personal information in the private sector "
        "(CQLR c P-39.1) s 32",
        source_url="https://www.legisquebec.gouv.qc.ca/en/document/cs/P-39.1",
    ),
    DeadlineRule(
        regulations=(Regulation.HIPAA_USA,),
        label="US HIPAA (right of access)",
        period=_days(30),
        extension=_days(30),
        extension_note=(
            "Once, by no more than 30 days, with a written statement of the reasons and the "
            "expected date within the first 30 days (§164.524(b)(2)(iii))."
        ),
        source="45 CFR §164.524(b)(2)",
        source_url=(
            "https://www.ecfr.gov/current/title-45/subtitle-A/subchapter-C/part-164/subpart-E/"
            "section-164.524"
        ),
    ),
    DeadlineRule(
        regulations=(Regulation.PIPA_KOR,),
        label="South Korea PIPA",
        period=_days(10),
        extension=None,
        extension_note=(
            "No extension. Access may be postponed only for a justifiable reason told to the "
            "subject (PIPA Art. 35(3)); deletion requests also have 10 days (Decree Art. 43)."
        ),
        source="PIPA Art. 35(3); PIPA Enforcement Decree Art. 41(4)",
        source_url="https://www.law.go.kr/법령/개인정보보호법시행령",
    ),
)

_RULE_BY_CODE: dict[str, DeadlineRule] = {
    str(code): rule for rule in RULES for code in rule.regulations
}


def rule_for(regulation: str) -> DeadlineRule:
    """The rule for a regulation code; DeadlineError (a ValueError) for unknown or retired codes."""
    try:
        return _RULE_BY_CODE[regulation]
    except KeyError:
        message = regulation_error(regulation) or f"No deadline rule for '{regulation}'."
        raise DeadlineError(message) from None


# --- Due dates -------------------------------------------------------------------------------


def due_date(regulation: str, received: date) -> date:
    """The initial legal deadline for a request received on `received`."""
    return rule_for(regulation).period.after(received)


def extended_due_date(regulation: str, received: date, due: date) -> date:
    """The current due date pushed back by the law's extension; DeadlineError if it has none."""
    rule = rule_for(regulation)
    if rule.extension is None:
        raise DeadlineError(f"{rule.label} allows no extension ({rule.source}).")
    if due < received:
        # Both are dates: catch swapped arguments rather than extend from the wrong one.
        raise DeadlineError(f"Due date {due} is before the request was received ({received}).")
    return rule.extension.after(due)


def latest_allowed_due_date(regulation: str, received: date) -> date:
    """The longest the law allows without holds: the initial due date plus any extension."""
    rule = rule_for(regulation)
    due = rule.period.after(received)
    return due if rule.extension is None else rule.extension.after(due)


# --- Holds -----------------------------------------------------------------------------------


def _counts_nz_working_days(regulation: str) -> bool:
    return rule_for(regulation).period.unit is Unit.NZ_WORKING_DAYS


def remaining_on_hold(regulation: str, due: date, paused_on: date) -> int:
    """Days left when the clock stops on `paused_on`: NZ working days for the NZ Privacy Act,
    calendar days otherwise; negative (calendar days) when already overdue."""
    if _counts_nz_working_days(regulation) and due > paused_on:
        return nz_working_days_between(paused_on, due)
    return (due - paused_on).days


def resume_due_date(regulation: str, resumed_on: date, remaining: int) -> date:
    """The due date when the clock restarts on `resumed_on` with `remaining` days left.

    A case that was already overdue (remaining <= 0) stays overdue by the same calendar days.
    """
    if _counts_nz_working_days(regulation) and remaining > 0:
        return add_nz_working_days(resumed_on, remaining)
    return resumed_on + timedelta(days=remaining)


# --- Days left and bands for the case list ---------------------------------------------------

BAND_OVERDUE = "overdue"
BAND_DUE_SOON = "due_soon"
BAND_DUE_TEN = "due_ten"
BAND_LATER = "later"
DEADLINE_BANDS = (BAND_OVERDUE, BAND_DUE_SOON, BAND_DUE_TEN, BAND_LATER)
DUE_SOON_DAYS = 5  # 0..5 days left
DUE_TEN_DAYS = 10  # 6..10 days left


def days_left(due: date, today: date) -> int:
    """Calendar days until `due`: 0 on the day itself, negative when overdue."""
    return (due - today).days


def deadline_band(days_left: int) -> str:
    """Which band of the case list a number of days left falls in."""
    if days_left < 0:
        return BAND_OVERDUE
    if days_left <= DUE_SOON_DAYS:
        return BAND_DUE_SOON
    if days_left <= DUE_TEN_DAYS:
        return BAND_DUE_TEN
    return BAND_LATER


# --- Acknowledging receipt -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AcknowledgementRule:
    """A law's deadline to confirm receipt of a request, separate from the one to answer it."""

    regulations: tuple[str, ...]
    business_days: int
    source: str
    source_url: str


ACKNOWLEDGEMENT_RULES = (
    AcknowledgementRule(
        regulations=(Regulation.CCPA, Regulation.CPRA_CA_USA),
        business_days=10,
        source="Cal. Code Regs. tit. 11 § 7021(a)",
        source_url="https://cppa.ca.gov/regulations/pdf/cppa_regs.pdf",
    ),
)
_ACK_RULE_BY_CODE = {str(code): rule for rule in ACKNOWLEDGEMENT_RULES for code in rule.regulations}


def acknowledgement_rule(regulation: str) -> AcknowledgementRule | None:
    """The regulation's acknowledgement rule, or None when its law sets no such deadline."""
    return _ACK_RULE_BY_CODE.get(regulation)


def add_business_days(start: date, n: int) -> date:
    """The `n`th weekday after `start`.

    Public holidays count as business days here: that gives an earlier deadline, never a later
    one (the module's convention of answering early).
    """
    day = start
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def acknowledge_by(regulation: str, received: date) -> date | None:
    """The last day to acknowledge a request received on `received`, or None if no law asks."""
    rule = acknowledgement_rule(regulation)
    return add_business_days(received, rule.business_days) if rule else None
