//! The review calendar (PRODUCT.md, "Review calendar"): weekly review sessions, decision
//! days a number of working days later, the cutoff, holidays, capacity and queue order.
//!
//! All dates are civil dates in the marketplace's IANA time zone; instants are UTC
//! [`Timestamp`]s. A day starts at 00:00 local time, found through the time zone database,
//! so daylight saving changes move the UTC instants but never the local dates.

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use vitrine_base::error::DomainError;
use vitrine_base::{Text, Timestamp, tr};

/// How far ahead the calendar looks for a working day before it gives up. A calendar with
/// more than a year of consecutive holidays is refused when it is configured.
const MAX_SEARCH_DAYS: i32 = 400;

/// The marketplace's calendar settings, changed by admins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSettings {
    /// IANA time zone all dates are read in.
    pub time_zone: String,
    /// The weekday recordings are reviewed.
    #[serde(with = "weekday_name")]
    pub review_weekday: Weekday,
    /// Working days between the review day and the decision day.
    pub decision_working_days: u8,
    /// How long before the start of the (nominal) review day submissions stop joining that
    /// week's session, in minutes. 0: submissions made before the review day starts join.
    pub cutoff_minutes_before_review: u32,
    /// Days that are not working days, besides Saturdays and Sundays.
    pub holidays: BTreeSet<Date>,
    /// Submissions each validator reviews per session, unless set for that validator.
    pub default_validator_capacity: u32,
}

impl Default for CalendarSettings {
    fn default() -> Self {
        Self {
            time_zone: "UTC".to_owned(),
            review_weekday: Weekday::Tuesday,
            decision_working_days: 2,
            cutoff_minutes_before_review: 0,
            holidays: BTreeSet::new(),
            default_validator_capacity: 5,
        }
    }
}

mod weekday_name {
    use jiff::civil::Weekday;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub const NAMES: [(Weekday, &str); 7] = [
        (Weekday::Monday, "monday"),
        (Weekday::Tuesday, "tuesday"),
        (Weekday::Wednesday, "wednesday"),
        (Weekday::Thursday, "thursday"),
        (Weekday::Friday, "friday"),
        (Weekday::Saturday, "saturday"),
        (Weekday::Sunday, "sunday"),
    ];

    pub fn serialize<S: Serializer>(day: &Weekday, s: S) -> Result<S::Ok, S::Error> {
        let name = NAMES
            .iter()
            .find(|(d, _)| d == day)
            .map(|(_, n)| *n)
            .unwrap_or("tuesday");
        s.serialize_str(name)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Weekday, D::Error> {
        let name = String::deserialize(d)?;
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(d, _)| *d)
            .ok_or_else(|| D::Error::custom(format!("'{name}' is not a weekday such as tuesday")))
    }
}

/// One weekly review session, with every date and instant a provider is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Session {
    /// The review weekday of the session's week, before any holiday moved it. Identifies
    /// the session.
    pub nominal_date: Date,
    /// The day the recordings are reviewed: the nominal date, or the next working day.
    pub review_date: Date,
    /// The day decisions are released: `decision_working_days` working days after review.
    pub decision_date: Date,
    /// Submissions made strictly before this instant join this session.
    pub cutoff: Timestamp,
    /// When the session opens (start of the review day).
    pub opens_at: Timestamp,
    /// When decisions are released (start of the decision day).
    pub releases_at: Timestamp,
    /// When an unrecorded decision becomes overdue (end of the decision day).
    pub overdue_at: Timestamp,
}

/// A validated calendar, ready to compute dates.
#[derive(Clone, Debug)]
pub struct ReviewCalendar {
    settings: CalendarSettings,
    tz: TimeZone,
}

fn err(field: &str, message: Text) -> DomainError {
    DomainError::invalid(field, message)
}

fn between(min: u32, max: u32) -> Text {
    tr!(
        "field.range",
        "must be between {min} and {max}",
        "doit être compris entre {min} et {max}"
    )
}

impl ReviewCalendar {
    /// Checks the settings: a real time zone, a working review weekday, 1 to 10 decision
    /// days, a cutoff of at most a week, a positive capacity, and holidays that leave
    /// working days.
    pub fn new(settings: CalendarSettings) -> Result<Self, DomainError> {
        let tz = jiff::tz::db().get(&settings.time_zone).map_err(|_| {
            let name = &settings.time_zone;
            err(
                "time_zone",
                tr!(
                    "field.time_zone",
                    "'{name}' is not an IANA time zone such as Europe/Paris or UTC",
                    "« {name} » n’est pas un fuseau horaire IANA comme Europe/Paris ou UTC"
                ),
            )
        })?;
        let mut problems = vitrine_base::error::Problems::new();
        if matches!(settings.review_weekday, Weekday::Saturday | Weekday::Sunday) {
            problems.push(
                "review_weekday",
                tr!(
                    "calendar.review_weekday",
                    "must be a weekday from monday to friday",
                    "doit être un jour de semaine, du lundi au vendredi"
                ),
            );
        }
        if !(1..=10).contains(&settings.decision_working_days) {
            problems.push("decision_working_days", between(1, 10));
        }
        if settings.cutoff_minutes_before_review > 7 * 24 * 60 {
            problems.push(
                "cutoff_minutes_before_review",
                tr!(
                    "calendar.cutoff",
                    "must be at most a week (10080 minutes)",
                    "doit être d’une semaine au plus (10080 minutes)"
                ),
            );
        }
        if settings.default_validator_capacity == 0 || settings.default_validator_capacity > 1000 {
            problems.push("default_validator_capacity", between(1, 1000));
        }
        if settings.holidays.len() > 3660 {
            problems.push(
                "holidays",
                tr!(
                    "calendar.holidays_count",
                    "at most 3660 holidays",
                    "3660 jours fériés au plus"
                ),
            );
        }
        problems.into_result()?;
        let calendar = Self { settings, tz };
        // Holidays must never leave a stretch without working days longer than the search.
        let mut run = 0;
        let mut last: Option<Date> = None;
        for day in &calendar.settings.holidays {
            run = match last {
                Some(prev) if prev.tomorrow().ok() == Some(*day) => run + 1,
                _ => 1,
            };
            last = Some(*day);
            if run > 300 {
                return Err(err(
                    "holidays",
                    tr!(
                        "calendar.holidays_leave_working_days",
                        "holidays must leave working days in every year",
                        "les jours fériés doivent laisser des jours ouvrés chaque année"
                    ),
                ));
            }
        }
        Ok(calendar)
    }

    pub fn settings(&self) -> &CalendarSettings {
        &self.settings
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// Monday to Friday, minus holidays.
    pub fn is_working_day(&self, date: Date) -> bool {
        !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !self.settings.holidays.contains(&date)
    }

    /// `date` if it is a working day, else the next one.
    pub fn working_day_on_or_after(&self, date: Date) -> Date {
        let mut day = date;
        for _ in 0..MAX_SEARCH_DAYS {
            if self.is_working_day(day) {
                return day;
            }
            day = next_day(day);
        }
        // `new` refuses holiday runs long enough to get here.
        day
    }

    /// The `n`th working day after `date` (n ≥ 1).
    pub fn add_working_days(&self, date: Date, n: u8) -> Date {
        let mut day = date;
        for _ in 0..n {
            day = self.working_day_on_or_after(next_day(day));
        }
        day
    }

    /// Local midnight at the start of `date`, as an instant.
    pub fn start_of(&self, date: Date) -> Timestamp {
        // Midnight may fall in a DST gap in a few zones; jiff's compatible disambiguation
        // then gives the first instant of the day.
        self.tz
            .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
            .unwrap_or(Timestamp::MAX)
    }

    /// The local date of an instant.
    pub fn date_of(&self, at: Timestamp) -> Date {
        at.to_zoned(self.tz.clone()).date()
    }

    /// The session whose nominal review date is `nominal`.
    pub fn session(&self, nominal: Date) -> Session {
        let review_date = self.working_day_on_or_after(nominal);
        let decision_date = self.add_working_days(review_date, self.settings.decision_working_days);
        let cutoff_offset = i64::from(self.settings.cutoff_minutes_before_review).minutes();
        let nominal_start = self.start_of(nominal);
        Session {
            nominal_date: nominal,
            review_date,
            decision_date,
            cutoff: nominal_start
                .checked_sub(cutoff_offset)
                .unwrap_or(nominal_start),
            opens_at: self.start_of(review_date),
            releases_at: self.start_of(decision_date),
            overdue_at: self.start_of(next_day(decision_date)),
        }
    }

    /// The session of the week after `session`.
    pub fn next_session(&self, session: &Session) -> Session {
        self.session(add_days(session.nominal_date, 7))
    }

    /// The session a submission made at `at` joins: the first whose cutoff is after it.
    pub fn session_for(&self, at: Timestamp) -> Session {
        let local = self.date_of(at);
        // The review weekday on or before the local date, then forward.
        let back = (local.weekday().to_monday_zero_offset()
            - self.settings.review_weekday.to_monday_zero_offset())
        .rem_euclid(7);
        let mut session = self.session(add_days(local, -i32::from(back)));
        // At most two steps: the cutoff is at most a week before the nominal date.
        while session.cutoff <= at {
            session = self.next_session(&session);
        }
        // A large cutoff may place an earlier week's cutoff after `at` too; take the first.
        loop {
            let previous = self.session(add_days(session.nominal_date, -7));
            if previous.cutoff > at {
                session = previous;
            } else {
                return session;
            }
        }
    }
}

fn next_day(date: Date) -> Date {
    add_days(date, 1)
}

fn add_days(date: Date, days: i32) -> Date {
    date.checked_add(days.days()).unwrap_or(date)
}

/// A submission waiting for review, as the queue sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry<Id> {
    pub id: Id,
    /// A new round after changes were requested: goes ahead of first-time submissions.
    pub resubmission: bool,
    /// When this round was submitted.
    pub submitted_at: Timestamp,
}

/// Where a queued submission stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement<Id> {
    pub id: Id,
    pub session: Session,
    /// 1-based position in the whole queue.
    pub position: u32,
}

/// Places every queued submission in a session: queue order is resubmissions first, then
/// first-time submissions, each by submission time; each takes the first session, from the
/// one its submission time gives (never one already open at `now`), that still has room.
/// `capacity` is the number of submissions one session holds (the sum of its validators'
/// capacities); 0 means no validator, and then nothing can be placed beyond the session
/// dates its submission time gives (capacity is treated as unlimited, so the dates stay
/// meaningful while admins assign validators).
pub fn plan_queue<Id: Clone>(
    calendar: &ReviewCalendar,
    entries: &[QueueEntry<Id>],
    capacity: u32,
    now: Timestamp,
) -> Vec<Placement<Id>> {
    let mut order: Vec<&QueueEntry<Id>> = entries.iter().collect();
    order.sort_by_key(|e| (!e.resubmission, e.submitted_at));
    let mut load: std::collections::BTreeMap<Date, u32> = std::collections::BTreeMap::new();
    // The first session not yet opened. Its cutoff may have passed (a cutoff before the
    // review day, or a review day moved by a holiday): it still takes what was submitted in
    // time.
    let mut first_open = calendar.session_for(now);
    loop {
        let previous = calendar.session(add_days(first_open.nominal_date, -7));
        if previous.opens_at > now {
            first_open = previous;
        } else {
            break;
        }
    }
    order
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let mut session = calendar.session_for(entry.submitted_at);
            if session.nominal_date < first_open.nominal_date {
                session = first_open;
            }
            if capacity > 0 {
                while load.get(&session.nominal_date).copied().unwrap_or(0) >= capacity {
                    session = calendar.next_session(&session);
                }
            }
            *load.entry(session.nominal_date).or_insert(0) += 1;
            Placement {
                id: entry.id.clone(),
                session,
                position: u32::try_from(index + 1).unwrap_or(u32::MAX),
            }
        })
        .collect()
}

/// A queued submission whose dates differ between two plans of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved<Id> {
    pub before: Placement<Id>,
    pub after: Placement<Id>,
}

/// The submissions whose review or decision date differs between the plan `before` a
/// change and the plan `after` it (earlier or later), in the order of `after`. Only the
/// dates count: a position that changes within the same session tells its provider
/// nothing new. Submissions in one plan only (the one that joined or left the queue) are
/// not in the list: what happened to them is told otherwise.
pub fn moved<Id: Clone + Ord>(before: &[Placement<Id>], after: &[Placement<Id>]) -> Vec<Moved<Id>> {
    let before: std::collections::BTreeMap<&Id, &Placement<Id>> =
        before.iter().map(|p| (&p.id, p)).collect();
    after
        .iter()
        .filter_map(|now| {
            let was = before.get(&now.id)?;
            let dates = |p: &Placement<Id>| (p.session.review_date, p.session.decision_date);
            (dates(was) != dates(now)).then(|| Moved {
                before: (*was).clone(),
                after: now.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn entry(id: u32, resubmission: bool, submitted_at: Timestamp) -> QueueEntry<u32> {
        QueueEntry {
            id,
            resubmission,
            submitted_at,
        }
    }

    #[test]
    fn a_resubmission_pushes_the_first_time_submissions_behind_it() {
        // The case a new user met: capacity 1, A in this week's session, B overflowed to
        // next week's; a resubmission R goes first: A moves a week, B a further week.
        let c = calendar("UTC");
        let now = at("UTC", "2026-11-25T10:00");
        let a = entry(1, false, at("UTC", "2026-11-25T09:00"));
        let b = entry(2, false, at("UTC", "2026-11-25T09:30"));
        let r = entry(3, true, at("UTC", "2026-11-25T10:00"));
        let before = plan_queue(&c, &[a.clone(), b.clone()], 1, now);
        let after = plan_queue(&c, &[a, b, r], 1, now);
        let got: Vec<(u32, Date, Date)> = moved(&before, &after)
            .into_iter()
            .map(|m| {
                (
                    m.after.id,
                    m.before.session.review_date,
                    m.after.session.review_date,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, date(2026, 12, 1), date(2026, 12, 8)),
                (2, date(2026, 12, 8), date(2026, 12, 15)),
            ],
            "both first-time submissions moved, the resubmission itself is not listed"
        );
    }

    #[test]
    fn leaving_the_queue_moves_the_others_earlier() {
        let c = calendar("UTC");
        let now = at("UTC", "2026-11-25T10:00");
        let a = entry(1, false, at("UTC", "2026-11-25T09:00"));
        let b = entry(2, false, at("UTC", "2026-11-25T09:30"));
        let before = plan_queue(&c, &[a, b.clone()], 1, now);
        let after = plan_queue(&c, &[b], 1, now);
        let got = moved(&before, &after);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].after.id, 2);
        assert_eq!(got[0].before.session.review_date, date(2026, 12, 8));
        assert_eq!(got[0].after.session.review_date, date(2026, 12, 1));
    }

    #[test]
    fn a_new_position_in_the_same_session_is_no_move() {
        let c = calendar("UTC");
        let now = at("UTC", "2026-11-25T10:00");
        let a = entry(1, false, at("UTC", "2026-11-25T09:00"));
        let r = entry(3, true, at("UTC", "2026-11-25T10:00"));
        let before = plan_queue(&c, std::slice::from_ref(&a), 5, now);
        let after = plan_queue(&c, &[a, r], 5, now);
        assert_eq!(after[1].position, 2, "A is second now");
        assert!(moved(&before, &after).is_empty());
    }

    proptest! {
        /// `moved` lists exactly the submissions of both plans whose dates differ.
        #[test]
        fn moved_is_exactly_the_changed_dates(
            submitted in proptest::collection::vec((0u32..14 * 24, any::<bool>()), 0..12),
            extra in proptest::collection::vec((0u32..14 * 24, any::<bool>()), 0..3),
            capacity_before in 0u32..4,
            capacity_after in 0u32..4,
        ) {
            let c = calendar("UTC");
            let now = at("UTC", "2026-11-23T00:00");
            let hour = |h: u32| now.checked_add(jiff::SignedDuration::from_hours(i64::from(h))).expect("instant");
            let base: Vec<QueueEntry<u32>> = submitted
                .iter()
                .enumerate()
                .map(|(i, (h, re))| entry(u32::try_from(i).expect("small"), *re, hour(*h)))
                .collect();
            let mut grown = base.clone();
            grown.extend(extra.iter().enumerate().map(|(i, (h, re))| {
                entry(100 + u32::try_from(i).expect("small"), *re, hour(*h))
            }));
            let before = plan_queue(&c, &base, capacity_before, now);
            let after = plan_queue(&c, &grown, capacity_after, now);
            let listed: std::collections::BTreeSet<u32> =
                moved(&before, &after).into_iter().map(|m| m.after.id).collect();
            for p in &after {
                let was = before.iter().find(|b| b.id == p.id);
                let changed = was.is_some_and(|b| {
                    (b.session.review_date, b.session.decision_date)
                        != (p.session.review_date, p.session.decision_date)
                });
                prop_assert_eq!(listed.contains(&p.id), changed);
            }
        }
    }

    fn calendar(tz: &str) -> ReviewCalendar {
        ReviewCalendar::new(CalendarSettings {
            time_zone: tz.into(),
            ..Default::default()
        })
        .expect("valid")
    }

    fn at(tz: &str, s: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = s.parse().expect("datetime");
        jiff::tz::db()
            .get(tz)
            .expect("tz")
            .to_timestamp(dt)
            .expect("instant")
    }

    #[test]
    fn tuesday_review_thursday_decision() {
        let c = calendar("UTC");
        // Wednesday 2026-11-25: next Tuesday is 2026-12-01, decision Thursday 2026-12-03.
        let s = c.session_for(at("UTC", "2026-11-25T10:00"));
        assert_eq!(
            (s.review_date, s.decision_date),
            (date(2026, 12, 1), date(2026, 12, 3))
        );
        assert_eq!(s.opens_at, at("UTC", "2026-12-01T00:00"));
        assert_eq!(s.releases_at, at("UTC", "2026-12-03T00:00"));
        assert_eq!(s.overdue_at, at("UTC", "2026-12-04T00:00"));
    }

    #[test]
    fn cutoff_boundaries() {
        let c = calendar("UTC");
        // Monday 23:59:59 joins Tuesday's session; Tuesday 00:00 exactly joins the next.
        let before = c.session_for(at("UTC", "2026-11-30T23:59:59.999999"));
        let on = c.session_for(at("UTC", "2026-12-01T00:00"));
        assert_eq!(before.review_date, date(2026, 12, 1));
        assert_eq!(on.review_date, date(2026, 12, 8));
        // A cutoff 36 hours before: Sunday noon.
        let early = ReviewCalendar::new(CalendarSettings {
            cutoff_minutes_before_review: 36 * 60,
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            early.session_for(at("UTC", "2026-11-29T11:59")).review_date,
            date(2026, 12, 1)
        );
        assert_eq!(
            early.session_for(at("UTC", "2026-11-29T12:00")).review_date,
            date(2026, 12, 8)
        );
        // A cutoff of a whole week: the previous Tuesday already closes next week's session.
        let week = ReviewCalendar::new(CalendarSettings {
            cutoff_minutes_before_review: 7 * 24 * 60,
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            week.session_for(at("UTC", "2026-11-23T12:00")).review_date,
            date(2026, 12, 1)
        );
        assert_eq!(
            week.session_for(at("UTC", "2026-11-24T00:00")).review_date,
            date(2026, 12, 8)
        );
    }

    #[test]
    fn holidays_move_review_and_decision() {
        let mut settings = CalendarSettings::default();
        // Review Tuesday is a holiday: review Wednesday, decision Friday.
        settings.holidays.insert(date(2026, 12, 1));
        let c = ReviewCalendar::new(settings.clone()).expect("valid");
        let s = c.session(date(2026, 12, 1));
        assert_eq!(
            (s.review_date, s.decision_date),
            (date(2026, 12, 2), date(2026, 12, 4))
        );
        // The cutoff stays at the start of the nominal Tuesday.
        assert_eq!(s.cutoff, at("UTC", "2026-12-01T00:00"));
        // A holiday between review and decision pushes the decision over the weekend.
        settings.holidays.clear();
        settings.holidays.insert(date(2026, 12, 3));
        let c = ReviewCalendar::new(settings.clone()).expect("valid");
        let s = c.session(date(2026, 12, 1));
        assert_eq!(
            (s.review_date, s.decision_date),
            (date(2026, 12, 1), date(2026, 12, 4))
        );
        settings.holidays.insert(date(2026, 12, 4));
        let c = ReviewCalendar::new(settings).expect("valid");
        assert_eq!(
            c.session(date(2026, 12, 1)).decision_date,
            date(2026, 12, 7)
        );
        // Christmas week 2026: Friday 25th; a Thursday review would decide on Tuesday 29th.
        let thursday = ReviewCalendar::new(CalendarSettings {
            review_weekday: Weekday::Thursday,
            holidays: [date(2026, 12, 25)].into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            thursday.session(date(2026, 12, 24)).decision_date,
            date(2026, 12, 29)
        );
    }

    #[test]
    fn daylight_saving_paris_and_new_york() {
        // Europe/Paris leaves summer time on Sunday 2026-10-25: the Tuesday after opens at
        // 23:00 UTC on Monday (UTC+1), the Tuesday before at 22:00 UTC (UTC+2).
        let paris = calendar("Europe/Paris");
        let s = paris.session_for(at("Europe/Paris", "2026-10-21T09:00"));
        assert_eq!(s.review_date, date(2026, 10, 27));
        assert_eq!(s.opens_at.to_string(), "2026-10-26T23:00:00Z");
        let s = paris.session_for(at("Europe/Paris", "2026-10-19T09:00"));
        assert_eq!(s.opens_at.to_string(), "2026-10-19T22:00:00Z");
        // Spring forward on Sunday 2026-03-29.
        let s = paris.session_for(at("Europe/Paris", "2026-03-28T12:00"));
        assert_eq!(s.review_date, date(2026, 3, 31));
        assert_eq!(s.opens_at.to_string(), "2026-03-30T22:00:00Z");
        // A submission at 23:30 local on Monday, which is already Tuesday in UTC, still
        // joins that Tuesday's session.
        let s = paris.session_for(at("Europe/Paris", "2026-03-30T23:30"));
        assert_eq!(s.review_date, date(2026, 3, 31));
        // America/New_York: DST starts Sunday 2026-03-08 and ends Sunday 2026-11-01.
        let ny = calendar("America/New_York");
        let s = ny.session_for(at("America/New_York", "2026-03-06T17:00"));
        assert_eq!(s.review_date, date(2026, 3, 10));
        assert_eq!(s.opens_at.to_string(), "2026-03-10T04:00:00Z");
        // Decision Thursday 12th; overdue from Friday 00:00 EDT (UTC-4).
        assert_eq!(s.overdue_at.to_string(), "2026-03-13T04:00:00Z");
        let s = ny.session_for(at("America/New_York", "2026-10-30T17:00"));
        assert_eq!(s.opens_at.to_string(), "2026-11-03T05:00:00Z");
        assert_eq!(s.decision_date, date(2026, 11, 5));
    }

    #[test]
    fn invalid_settings_are_listed() {
        let bad = CalendarSettings {
            review_weekday: Weekday::Sunday,
            decision_working_days: 0,
            cutoff_minutes_before_review: 20_000,
            default_validator_capacity: 0,
            ..Default::default()
        };
        let Err(DomainError::Invalid(errors)) = ReviewCalendar::new(bad) else {
            panic!("invalid expected")
        };
        assert_eq!(errors.len(), 4);
        let bad_tz = CalendarSettings {
            time_zone: "Europe/Atlantis".into(),
            ..Default::default()
        };
        assert!(ReviewCalendar::new(bad_tz).is_err());
    }

    #[test]
    fn settings_round_trip_as_json() {
        let settings = CalendarSettings {
            holidays: [date(2026, 12, 25)].into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&settings).expect("json");
        assert_eq!(json["review_weekday"], "tuesday");
        assert_eq!(json["holidays"][0], "2026-12-25");
        let back: CalendarSettings = serde_json::from_value(json).expect("parse");
        assert_eq!(back, settings);
    }

    #[test]
    fn capacity_overflow_and_resubmission_priority() {
        let c = calendar("UTC");
        let now = at("UTC", "2026-11-25T09:00");
        let t = |h: i64| now.checked_add(h.hours()).expect("time");
        let entries = vec![
            QueueEntry {
                id: "first-a",
                resubmission: false,
                submitted_at: t(1),
            },
            QueueEntry {
                id: "first-b",
                resubmission: false,
                submitted_at: t(2),
            },
            QueueEntry {
                id: "first-c",
                resubmission: false,
                submitted_at: t(3),
            },
            QueueEntry {
                id: "resub",
                resubmission: true,
                submitted_at: t(4),
            },
        ];
        let plan = plan_queue(&c, &entries, 2, now);
        let got: Vec<_> = plan
            .iter()
            .map(|p| (p.id, p.session.review_date, p.position))
            .collect();
        assert_eq!(
            got,
            [
                ("resub", date(2026, 12, 1), 1),
                ("first-a", date(2026, 12, 1), 2),
                ("first-b", date(2026, 12, 8), 3),
                ("first-c", date(2026, 12, 8), 4),
            ]
        );
        // Without validators the dates follow the submission times alone.
        let plan = plan_queue(&c, &entries, 0, now);
        assert!(
            plan.iter()
                .all(|p| p.session.review_date == date(2026, 12, 1))
        );
        // A submission whose session already opened moves to the next one.
        let late = plan_queue(&c, &entries[..1], 5, at("UTC", "2026-12-01T08:00"));
        assert_eq!(late[0].session.review_date, date(2026, 12, 8));
        // Between an early cutoff and the opening, what was submitted in time stays put.
        let early = ReviewCalendar::new(CalendarSettings {
            cutoff_minutes_before_review: 24 * 60,
            ..Default::default()
        })
        .expect("valid");
        let kept = plan_queue(&early, &entries[..1], 5, at("UTC", "2026-11-30T12:00"));
        assert_eq!(kept[0].session.review_date, date(2026, 12, 1));
    }

    proptest! {
        /// Every placement's decision day is a working day after its review day, its review
        /// day a working day on or after the nominal date, and sessions never overflow.
        #[test]
        fn placements_are_consistent(
            tz in prop::sample::select(vec!["UTC", "Europe/Paris", "America/New_York", "Pacific/Auckland"]),
            weekday in 0i8..5,
            days in 1u8..=5,
            cutoff in 0u32..=10_080,
            holidays in prop::collection::btree_set(0i32..120, 0..40),
            submitted in prop::collection::vec((0i64..(90 * 24 * 60), any::<bool>()), 0..40),
            capacity in 0u32..6,
        ) {
            let base = date(2026, 9, 1);
            let settings = CalendarSettings {
                time_zone: tz.into(),
                review_weekday: Weekday::from_monday_zero_offset(weekday).expect("weekday"),
                decision_working_days: days,
                cutoff_minutes_before_review: cutoff,
                holidays: holidays.iter().map(|d| add_days(base, *d)).collect(),
                default_validator_capacity: 5,
            };
            let c = ReviewCalendar::new(settings.clone()).expect("valid");
            let start = c.start_of(base);
            let entries: Vec<_> = submitted.iter().enumerate().map(|(i, (m, r))| QueueEntry {
                id: i,
                resubmission: *r,
                submitted_at: start.checked_add(m.minutes()).expect("time"),
            }).collect();
            let plan = plan_queue(&c, &entries, capacity, start);
            let mut per_session = std::collections::BTreeMap::new();
            for p in &plan {
                let s = p.session;
                prop_assert_eq!(s.nominal_date.weekday(), settings.review_weekday);
                prop_assert!(c.is_working_day(s.review_date));
                prop_assert!(c.is_working_day(s.decision_date));
                prop_assert!(s.decision_date > s.review_date);
                prop_assert!(s.review_date >= s.nominal_date);
                prop_assert!(s.opens_at < s.releases_at && s.releases_at < s.overdue_at);
                let entry = &entries[p.id];
                prop_assert!(entry.submitted_at < s.cutoff, "joined a session whose cutoff had passed");
                *per_session.entry(s.nominal_date).or_insert(0u32) += 1;
            }
            if capacity > 0 {
                prop_assert!(per_session.values().all(|n| *n <= capacity));
            }
            // Resubmissions come first in the queue.
            let first_new = plan.iter().position(|p| !entries[p.id].resubmission).unwrap_or(plan.len());
            prop_assert!(plan[first_new..].iter().all(|p| !entries[p.id].resubmission));
        }
    }
}
