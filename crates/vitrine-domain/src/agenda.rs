//! The calendar view: the coming review sessions as people see them. Each session's dates,
//! the holidays that moved its review or decision day, what its validators hold and what
//! the queue plan ([`crate::calendar::plan_queue`]) puts in it, and, once it opened, who
//! reviews what. Staff see all of it; a provider only its own queued submissions' places
//! ([`CalendarScope`], decided by [`crate::Actor::calendar_scope`]), which is what its
//! submission page already tells it plus the position within the session.

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};

use crate::calendar::{Placement, ReviewCalendar, Session};
use crate::error::DomainError;
use crate::ids::{AccountId, UserId};
use crate::permissions::CalendarScope;
use crate::tr;

/// Sessions listed when the caller does not say how many.
pub const DEFAULT_WEEKS: u32 = 8;
/// Most sessions one request lists: half a year ahead is as far as a plan means anything.
pub const MAX_WEEKS: u32 = 26;

/// How many sessions to list: `requested`, else [`DEFAULT_WEEKS`]; 1 to [`MAX_WEEKS`].
pub fn weeks(requested: Option<u32>) -> Result<u32, DomainError> {
    match requested {
        None => Ok(DEFAULT_WEEKS),
        Some(n) if (1..=MAX_WEEKS).contains(&n) => Ok(n),
        Some(_) => Err(DomainError::invalid(
            "weeks",
            tr!(
                "field.range",
                "must be between 1 and {MAX_WEEKS}",
                "doit être compris entre 1 et {MAX_WEEKS}"
            ),
        )),
    }
}

/// The first date a listing starts from: the one asked, or today if that is earlier. The
/// view shows coming sessions (past ones are in the audit log), so an earlier date, say a
/// bookmarked link, shows what is coming rather than a refusal.
pub fn effective_from(from: Date, today: Date) -> Date {
    from.max(today)
}

/// `weeks` consecutive sessions, the first being the earliest whose decision day is `from`
/// or later (so the session open this week is listed until its decision day ends).
pub fn coming_sessions(calendar: &ReviewCalendar, from: Date, weeks: u32) -> Vec<Session> {
    let mut first = calendar.session_for(calendar.start_of(from));
    // Earlier sessions may still decide on or after `from` (their review day passed, or
    // holidays pushed them). Bounded: holidays never run for a year (`ReviewCalendar::new`).
    for _ in 0..60 {
        let Ok(nominal) = first.nominal_date.checked_sub(7.days()) else {
            break;
        };
        let previous = calendar.session(nominal);
        if previous.decision_date >= from {
            first = previous;
        } else {
            break;
        }
    }
    let mut sessions = Vec::new();
    let mut session = first;
    for _ in 0..weeks {
        sessions.push(session);
        session = calendar.next_session(&session);
    }
    sessions
}

/// Which day of a session a holiday moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovedDay {
    /// The review day: the holiday fell on the nominal review day or a working day after
    /// it, before the day the review takes place.
    Review,
    /// The decision day: the holiday fell between the review day and the decision day.
    Decision,
}

/// A holiday that moved a session's review or decision day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HolidayEffect {
    pub date: Date,
    pub moved: MovedDay,
}

/// The configured holidays that moved `session`'s days, in date order.
pub fn holidays_moving(calendar: &ReviewCalendar, session: &Session) -> Vec<HolidayEffect> {
    calendar
        .settings()
        .holidays
        .range(session.nominal_date..session.decision_date)
        .map(|&date| HolidayEffect {
            date,
            moved: if date < session.review_date {
                MovedDay::Review
            } else {
                MovedDay::Decision
            },
        })
        // A holiday on a Saturday or Sunday moves nothing the weekend did not already.
        .filter(|h| !matches!(h.date.weekday(), Weekday::Saturday | Weekday::Sunday))
        .collect()
}

/// A queued submission as the view needs it: its place in the plan, whose it is, and
/// whether it is a resubmission (which goes first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued<Id> {
    pub placement: Placement<Id>,
    pub provider_account: AccountId,
    pub resubmission: bool,
}

/// A submission a session took: in review, or decided and held until decision day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed<Id> {
    pub id: Id,
    pub provider_account: AccountId,
    pub validator: Option<UserId>,
    /// The nominal date of the session it was reviewed in.
    pub session_nominal_date: Date,
}

/// A submission the plan puts in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned<Id> {
    pub id: Id,
    pub provider_account: AccountId,
    pub resubmission: bool,
    /// 1-based position in the whole queue (what the submission page shows).
    pub queue_position: u32,
    /// 1-based position within the session.
    pub session_position: u32,
}

/// What only staff read of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffDetail<Id> {
    pub holidays: Vec<HolidayEffect>,
    /// What the session holds: the sum of the validators' capacities (0: no validator yet).
    pub capacity: u32,
    /// Whether the session has opened (its submissions were assigned).
    pub opened: bool,
    /// Who reviews what, once it opened.
    pub assigned: Vec<Reviewed<Id>>,
}

/// One coming session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionAgenda<Id> {
    pub session: Session,
    /// In queue order; a provider's view holds only its own.
    pub planned: Vec<Planned<Id>>,
    /// `None` in a provider's view.
    pub staff: Option<StaffDetail<Id>>,
}

/// The full agenda of `sessions` (staff's view): the plan's submissions and the reviewed
/// ones placed in their sessions. `queued` is in the plan's (queue) order; `opened` the
/// nominal dates of the sessions that have opened.
pub fn agenda<Id: Clone>(
    calendar: &ReviewCalendar,
    sessions: &[Session],
    queued: &[Queued<Id>],
    reviewed: &[Reviewed<Id>],
    capacity: u32,
    opened: &[Date],
) -> Vec<SessionAgenda<Id>> {
    sessions
        .iter()
        .map(|session| {
            let planned = queued
                .iter()
                .filter(|q| q.placement.session.nominal_date == session.nominal_date)
                .enumerate()
                .map(|(index, q)| Planned {
                    id: q.placement.id.clone(),
                    provider_account: q.provider_account,
                    resubmission: q.resubmission,
                    queue_position: q.placement.position,
                    session_position: u32::try_from(index + 1).unwrap_or(u32::MAX),
                })
                .collect();
            let assigned = reviewed
                .iter()
                .filter(|r| r.session_nominal_date == session.nominal_date)
                .cloned()
                .collect();
            SessionAgenda {
                session: *session,
                planned,
                staff: Some(StaffDetail {
                    holidays: holidays_moving(calendar, session),
                    capacity,
                    opened: opened.contains(&session.nominal_date),
                    assigned,
                }),
            }
        })
        .collect()
}

/// What of `agenda` the caller in `scope` sees. Staff: all. A provider: the sessions
/// holding its own queued submissions, each with those submissions only, and nothing
/// staff-only (no holidays, capacity, count, assignment), so nothing of another provider
/// shows, not even how many there are.
pub fn visible_to<Id>(
    agenda: Vec<SessionAgenda<Id>>,
    scope: &CalendarScope,
) -> Vec<SessionAgenda<Id>> {
    match scope {
        CalendarScope::Staff => agenda,
        CalendarScope::Provider(accounts) => agenda
            .into_iter()
            .filter_map(|mut day| {
                day.planned
                    .retain(|p| accounts.contains(&p.provider_account));
                day.staff = None;
                (!day.planned.is_empty()).then_some(day)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::calendar::{CalendarSettings, QueueEntry, plan_queue};
    use jiff::civil::date;

    fn calendar(holidays: &[Date]) -> ReviewCalendar {
        ReviewCalendar::new(CalendarSettings {
            holidays: holidays.iter().copied().collect(),
            ..Default::default()
        })
        .expect("valid")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("instant")
    }

    #[test]
    fn weeks_default_and_bounds() {
        assert_eq!(weeks(None), Ok(8));
        assert_eq!(weeks(Some(1)), Ok(1));
        assert_eq!(weeks(Some(26)), Ok(26));
        for bad in [0, 27, u32::MAX] {
            let Err(DomainError::Invalid(fields)) = weeks(Some(bad)) else {
                panic!("{bad} weeks accepted");
            };
            assert_eq!(fields[0].field, "weeks");
        }
    }

    #[test]
    fn from_is_today_or_later() {
        let today = date(2026, 3, 4);
        assert_eq!(effective_from(today, today), today);
        assert_eq!(effective_from(date(2026, 3, 3), today), today);
        assert_eq!(effective_from(date(2099, 3, 3), today), date(2099, 3, 3));
    }

    #[test]
    fn the_session_open_this_week_is_listed_until_its_decision_day_ends() {
        let c = calendar(&[]);
        // Wednesday 4 March: the session of Tuesday 3 March decides Thursday 5 March.
        let listed = coming_sessions(&c, date(2026, 3, 4), 3);
        let reviews: Vec<Date> = listed.iter().map(|s| s.review_date).collect();
        assert_eq!(
            reviews,
            [date(2026, 3, 3), date(2026, 3, 10), date(2026, 3, 17)]
        );
        // Friday 6 March: it has decided; the next one comes first.
        assert_eq!(
            coming_sessions(&c, date(2026, 3, 6), 1)[0].review_date,
            date(2026, 3, 10)
        );
    }

    #[test]
    fn holidays_that_move_the_review_and_the_decision_are_named() {
        // Tuesday 10 March a holiday: review Wednesday 11, decision Friday 13; Thursday 12
        // a holiday too: decision Monday 16. A holiday on a Saturday moves nothing.
        let c = calendar(&[date(2026, 3, 10), date(2026, 3, 12), date(2026, 3, 14)]);
        let session = coming_sessions(&c, date(2026, 3, 9), 1)[0];
        assert_eq!(session.review_date, date(2026, 3, 11));
        assert_eq!(session.decision_date, date(2026, 3, 16));
        assert_eq!(
            holidays_moving(&c, &session),
            [
                HolidayEffect {
                    date: date(2026, 3, 10),
                    moved: MovedDay::Review
                },
                HolidayEffect {
                    date: date(2026, 3, 12),
                    moved: MovedDay::Decision
                },
            ]
        );
        let next = c.next_session(&session);
        assert_eq!(holidays_moving(&c, &next), []);
    }

    /// Two providers, capacity 2: A's two first-time submissions and B's resubmission;
    /// B goes first, A's second overflows to the next week.
    fn two_providers() -> (
        ReviewCalendar,
        Vec<Session>,
        Vec<Queued<u32>>,
        AccountId,
        AccountId,
    ) {
        let c = calendar(&[]);
        let (a, b) = (AccountId::generate(), AccountId::generate());
        let entries = [
            (1, a, false, "2026-03-02T10:00:00Z"),
            (2, a, false, "2026-03-02T11:00:00Z"),
            (3, b, true, "2026-03-02T12:00:00Z"),
        ];
        let queue: Vec<QueueEntry<u32>> = entries
            .iter()
            .map(|&(id, _, resubmission, when)| QueueEntry {
                id,
                resubmission,
                submitted_at: at(when),
            })
            .collect();
        let now = at("2026-03-02T13:00:00Z");
        let queued = plan_queue(&c, &queue, 2, now)
            .into_iter()
            .map(|placement| {
                let (_, account, resubmission, _) = entries
                    .iter()
                    .find(|e| e.0 == placement.id)
                    .copied()
                    .expect("planned entry");
                Queued {
                    placement,
                    provider_account: account,
                    resubmission,
                }
            })
            .collect();
        let sessions = coming_sessions(&c, date(2026, 3, 2), 3);
        (c, sessions, queued, a, b)
    }

    #[test]
    fn staff_see_every_planned_submission_with_capacity_and_assignments() {
        let (c, sessions, queued, a, b) = two_providers();
        let validator = UserId::generate();
        let reviewed = [Reviewed {
            id: 9,
            provider_account: b,
            validator: Some(validator),
            session_nominal_date: sessions[0].nominal_date,
        }];
        let view = visible_to(
            agenda(
                &c,
                &sessions,
                &queued,
                &reviewed,
                2,
                &[sessions[0].nominal_date],
            ),
            &CalendarScope::Staff,
        );
        let ids = |i: usize| view[i].planned.iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(0), [3, 1]);
        assert_eq!(ids(1), [2]);
        assert_eq!(ids(2), Vec::<u32>::new());
        assert_eq!(view[1].planned[0].session_position, 1);
        assert_eq!(view[1].planned[0].queue_position, 3);
        assert_eq!(view[1].planned[0].provider_account, a);
        let first = view[0].staff.as_ref().expect("staff detail");
        assert_eq!(first.capacity, 2);
        assert!(first.opened);
        assert_eq!(first.assigned[0].validator, Some(validator));
        assert!(!view[1].staff.as_ref().expect("staff detail").opened);
    }

    #[test]
    fn a_provider_sees_only_its_own_places_and_nothing_staff_only() {
        let (c, sessions, queued, a, b) = two_providers();
        let reviewed = [Reviewed {
            id: 9,
            provider_account: a,
            validator: Some(UserId::generate()),
            session_nominal_date: sessions[0].nominal_date,
        }];
        let full = agenda(&c, &sessions, &queued, &reviewed, 2, &[]);
        let view = visible_to(full.clone(), &CalendarScope::Provider(vec![a]));
        // Two sessions hold A's submissions; the third, empty, is not listed.
        assert_eq!(view.len(), 2);
        assert!(view.iter().all(|s| s.staff.is_none()));
        let places: Vec<(u32, u32, u32)> = view
            .iter()
            .flat_map(|s| s.planned.iter())
            .map(|p| (p.id, p.queue_position, p.session_position))
            .collect();
        // B's resubmission is first in the session: A's first is second there.
        assert_eq!(places, [(1, 2, 2), (2, 3, 1)]);
        assert!(
            view.iter()
                .flat_map(|s| s.planned.iter())
                .all(|p| p.provider_account == a)
        );
        // B sees its one submission; a provider with nothing queued sees nothing.
        let b_view = visible_to(full.clone(), &CalendarScope::Provider(vec![b]));
        assert_eq!(b_view.len(), 1);
        assert_eq!(b_view[0].planned.len(), 1);
        assert_eq!(
            visible_to(full, &CalendarScope::Provider(vec![AccountId::generate()])),
            []
        );
    }
}
