//! Who reviews what when a session opens (PRODUCT.md, "Weekly review" and "Changes
//! requested"): submissions are taken in queue order; each goes back to the validator of its
//! previous round when that validator still has room, otherwise to the least-loaded validator
//! with room (ties: the validator with the most room left, then the smallest id, so the
//! answer never depends on input order). A validator never gets more than their capacity;
//! submissions nobody has room for stay queued for the next session.

use crate::ids::UserId;
use std::collections::BTreeMap;

/// A validator as the assignment sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSlot {
    pub id: UserId,
    /// Submissions they review per session.
    pub capacity: u32,
    /// Submissions already on their desk (in review, not yet decided). They count against
    /// the capacity and make the validator more loaded.
    pub load: u32,
}

/// A submission due in the session, in queue order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueSubmission<Id> {
    pub id: Id,
    /// The validator of its previous round, for resubmissions.
    pub previous_validator: Option<UserId>,
}

/// The assignments of one session opening, in queue order. Submissions left out stay
/// queued.
pub fn assign<Id: Clone>(
    due: &[DueSubmission<Id>],
    validators: &[ValidatorSlot],
) -> Vec<(Id, UserId)> {
    let mut desks: BTreeMap<UserId, (u32, u32)> = validators
        .iter()
        .map(|v| (v.id, (v.capacity, v.load)))
        .collect();
    let has_room = |(capacity, load): (u32, u32)| load < capacity;
    let mut out = Vec::new();
    for submission in due {
        let previous = submission
            .previous_validator
            .filter(|v| desks.get(v).is_some_and(|d| has_room(*d)));
        let chosen = previous.or_else(|| {
            desks
                .iter()
                .filter(|(_, d)| has_room(**d))
                .min_by_key(|(id, (capacity, load))| (*load, u32::MAX - (capacity - load), **id))
                .map(|(id, _)| *id)
        });
        let Some(validator) = chosen else {
            continue;
        };
        if let Some(desk) = desks.get_mut(&validator) {
            desk.1 += 1;
        }
        out.push((submission.id.clone(), validator));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(n: usize) -> Vec<UserId> {
        let mut v: Vec<UserId> = (0..n).map(|_| UserId::generate()).collect();
        v.sort();
        v
    }

    fn slot(id: UserId, capacity: u32, load: u32) -> ValidatorSlot {
        ValidatorSlot { id, capacity, load }
    }

    fn due(n: u32, previous: Option<UserId>) -> DueSubmission<u32> {
        DueSubmission {
            id: n,
            previous_validator: previous,
        }
    }

    #[test]
    fn least_loaded_first_then_round_robin() {
        let v = ids(2);
        let got = assign(
            &[due(1, None), due(2, None), due(3, None)],
            &[slot(v[0], 5, 1), slot(v[1], 5, 0)],
        );
        assert_eq!(got, vec![(1, v[1]), (2, v[0]), (3, v[1])]);
    }

    #[test]
    fn same_validator_where_possible() {
        let v = ids(2);
        // v[0] is busier but reviewed round 1: the resubmission goes back to them.
        let got = assign(
            &[due(1, Some(v[0])), due(2, None)],
            &[slot(v[0], 5, 3), slot(v[1], 5, 0)],
        );
        assert_eq!(got, vec![(1, v[0]), (2, v[1])]);
    }

    #[test]
    fn previous_validator_full_or_gone_falls_back() {
        let v = ids(3);
        let got = assign(
            &[due(1, Some(v[0])), due(2, Some(v[2]))],
            &[slot(v[0], 2, 2), slot(v[1], 2, 0)],
        );
        assert_eq!(got, vec![(1, v[1]), (2, v[1])]);
    }

    #[test]
    fn capacity_leaves_the_rest_queued() {
        let v = ids(2);
        let got = assign(
            &[due(1, None), due(2, None), due(3, None), due(4, None)],
            &[slot(v[0], 1, 0), slot(v[1], 2, 0)],
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got.iter().filter(|(_, w)| *w == v[1]).count(), 2);
        assert!(assign(&[due(1, None)], &[]).is_empty());
        assert!(assign(&[due(1, None)], &[slot(v[0], 0, 0)]).is_empty());
    }

    #[test]
    fn ties_prefer_more_room_then_smaller_id() {
        let v = ids(2);
        let got = assign(&[due(1, None)], &[slot(v[0], 1, 0), slot(v[1], 3, 0)]);
        assert_eq!(got, vec![(1, v[1])]);
        let got = assign(&[due(1, None)], &[slot(v[1], 3, 0), slot(v[0], 3, 0)]);
        assert_eq!(got, vec![(1, v[0])]);
    }

    proptest! {
        #[test]
        fn assignment_rules_hold(
            slots in prop::collection::vec((0u32..4, 0u32..4), 0..5),
            queue in prop::collection::vec(prop::option::of(0usize..6), 0..20),
        ) {
            let v = ids(6);
            let validators: Vec<ValidatorSlot> = slots
                .iter()
                .enumerate()
                .map(|(i, (c, l))| slot(v[i], *c, *l))
                .collect();
            let due: Vec<DueSubmission<usize>> = queue
                .iter()
                .enumerate()
                .map(|(i, p)| DueSubmission { id: i, previous_validator: p.map(|p| v[p]) })
                .collect();
            let got = assign(&due, &validators);
            // Never over capacity.
            let room: u32 = validators.iter().map(|s| s.capacity.saturating_sub(s.load)).sum();
            for s in &validators {
                let n = got.iter().filter(|(_, w)| *w == s.id).count() as u32;
                prop_assert!(n <= s.capacity.saturating_sub(s.load));
            }
            // As many as fit, and in queue order (the first ones).
            let expected = due.len().min(room as usize);
            prop_assert_eq!(got.len(), expected);
            for (i, (id, _)) in got.iter().enumerate() {
                prop_assert_eq!(*id, i);
            }
            // Replay: the previous validator is kept whenever they had room; otherwise the
            // chosen one was least loaded among those with room.
            let mut desks: BTreeMap<UserId, (u32, u32)> =
                validators.iter().map(|s| (s.id, (s.capacity, s.load))).collect();
            for (id, w) in &got {
                let prev = due[*id].previous_validator;
                let prev_room = prev.and_then(|p| desks.get(&p)).is_some_and(|(c, l)| l < c);
                if prev_room {
                    prop_assert_eq!(Some(*w), prev);
                } else {
                    let min = desks.values().filter(|(c, l)| l < c).map(|(_, l)| *l).min();
                    prop_assert_eq!(desks.get(w).map(|d| d.1), min);
                }
                if let Some(d) = desks.get_mut(w) { d.1 += 1; }
            }
        }
    }
}
