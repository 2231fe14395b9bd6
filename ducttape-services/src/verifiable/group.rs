//! Checks consumer-group semantics from the verifiable consumers' events (kafkatest's
//! `ConsumerEventHandler`, as verdicts instead of asserts in a parser thread).
//!
//! Each member is one consumer *process* (a bounced consumer is a new member: its events
//! start from nothing). Its assignment follows its `partitions_assigned` / `partitions_revoked`
//! events (added / removed: eager rebalances revoke everything, cooperative and KIP-848 ones
//! only what moves), and a member's ownership ends with its `shutdown_complete`, or when the
//! test says it was killed ([`GroupChecker::end`]).
//!
//! What it finds ([`GroupViolation`]):
//! - records consumed from a partition the member did not hold;
//! - an offset committed for a partition the member did not hold, or ahead of what it had
//!   consumed there, or behind an offset the group had already committed (commits go forward);
//! - records consumed from before the group's committed offset (a new owner must start there);
//! - a member going back or skipping within a partition it held all along;
//! - a partition revoked from a member that did not hold it.
//!
//! At a moment the group should be settled, [`GroupChecker::assignment`] answers whether the
//! live members' assignments partition the topic's partitions: none held twice, none orphaned.
//!
//! Records a member consumed whose commit Kafka then refused ([`GroupChecker::refused`]: a
//! commit during a cooperative rebalance, say, `…undergoing a rebalance`) may be delivered
//! again to the partition's next owner, which starts at the last commit: at-least-once allows
//! it, and a duplicates check excuses exactly those records
//! ([`GroupChecker::redelivery_allowed`]), no others. The excuse is per record, not per
//! delivery: a third read of such a record is caught as a read from behind the next owner's
//! commit ([`GroupViolation::ConsumedBehindCommit`]) or a rewind within a held partition. Any
//! failed commit counts as refused, a timed-out one too, though Kafka may have applied it: a
//! later read from behind such a commit would be excused, as the checker never saw the commit.
//!
//! Events are fed in time order across members ([`GroupChecker::observe_all`] sorts them by
//! timestamp, each member's own order kept).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::events::VerifiableEvent;

/// Something a member did that a correct consumer group never does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum GroupViolation {
    /// Records consumed from a partition the member did not hold.
    ConsumedUnassigned {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
        /// The first offset of the records.
        min_offset: i64,
    },
    /// An offset committed for a partition the member did not hold.
    CommitUnassigned {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
        /// The committed offset.
        offset: i64,
    },
    /// An offset committed beyond what the member had consumed (`position`: its next offset,
    /// `None` when it had consumed nothing there).
    CommitAhead {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
        /// The committed offset.
        offset: i64,
        /// The member's position then.
        position: Option<i64>,
    },
    /// An offset committed behind one the group had committed before.
    CommitBackwards {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
        /// The committed offset.
        offset: i64,
        /// The group's committed offset before it.
        previous: i64,
    },
    /// Records consumed from before the group's committed offset.
    ConsumedBehindCommit {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
        /// The first offset of the records.
        min_offset: i64,
        /// The group's committed offset then.
        committed: i64,
    },
    /// A member read a partition it held from elsewhere than where it had stopped.
    UnexpectedOffset {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
        /// Where it should have gone on.
        expected: i64,
        /// Where it did.
        min_offset: i64,
    },
    /// A partition revoked from a member that did not hold it.
    RevokedUnassigned {
        /// The member.
        member: String,
        /// The partition.
        partition: i32,
    },
}

impl fmt::Display for GroupViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ConsumedUnassigned { member, partition, min_offset } => write!(
                f,
                "{member} consumed partition {partition} from offset {min_offset} without holding it"
            ),
            Self::CommitUnassigned { member, partition, offset } => write!(
                f,
                "{member} committed offset {offset} of partition {partition} without holding it"
            ),
            Self::CommitAhead { member, partition, offset, position } => write!(
                f,
                "{member} committed offset {offset} of partition {partition} ahead of its position {position:?}"
            ),
            Self::CommitBackwards { member, partition, offset, previous } => write!(
                f,
                "{member} committed offset {offset} of partition {partition}, behind the group's {previous}"
            ),
            Self::ConsumedBehindCommit { member, partition, min_offset, committed } => write!(
                f,
                "{member} consumed partition {partition} from offset {min_offset}, behind the committed {committed}"
            ),
            Self::UnexpectedOffset { member, partition, expected, min_offset } => write!(
                f,
                "{member} read partition {partition} from offset {min_offset}, expected {expected}"
            ),
            Self::RevokedUnassigned { member, partition } => write!(
                f,
                "{member} had partition {partition} revoked without holding it"
            ),
        }
    }
}

/// What is wrong with the live members' assignments at a moment (see
/// [`GroupChecker::assignment`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AssignmentProblems {
    /// Partitions more than one live member holds, with the members.
    pub owned_twice: BTreeMap<i32, Vec<String>>,
    /// Partitions no live member holds.
    pub orphaned: Vec<i32>,
    /// Partitions held that the topic does not have.
    pub unknown: Vec<i32>,
    /// Every live member's assignment.
    pub assignments: BTreeMap<String, Vec<i32>>,
}

impl AssignmentProblems {
    /// Whether the assignments partition the topic's partitions.
    pub fn is_clean(&self) -> bool {
        self.owned_twice.is_empty() && self.orphaned.is_empty() && self.unknown.is_empty()
    }

    /// Whether the live members hold partition counts within one of each other. Every
    /// assignor of one topic's group (range, round-robin, sticky, cooperative-sticky, KIP-848's
    /// uniform and range) ends balanced; a clean but unbalanced assignment (one member holding
    /// every partition, the newcomers none) is a rebalance still under way — KIP-848 hands a
    /// joining member an empty assignment first and moves partitions to it only once their
    /// owner has revoked them.
    pub fn is_balanced(&self) -> bool {
        let sizes = self.assignments.values().map(Vec::len);
        match (sizes.clone().min(), sizes.max()) {
            (Some(min), Some(max)) => max - min <= 1,
            _ => true,
        }
    }
}

impl fmt::Display for AssignmentProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "owned twice {:?}, orphaned {:?}, unknown {:?}; assignments {:?}",
            self.owned_twice, self.orphaned, self.unknown, self.assignments
        )
    }
}

/// One member's state.
#[derive(Debug, Clone, Default)]
struct Member {
    live: bool,
    /// Its last rebalance event was an assignment (kafkatest's `Joined` state): a member that
    /// started, or had partitions revoked, has not joined until its next assignment.
    joined: bool,
    assignment: BTreeSet<i32>,
    /// Next offset to read, per partition held since it was last (re)assigned.
    position: BTreeMap<i32, i64>,
    /// Offsets consumed since this member's last successful commit there, per partition held.
    uncommitted: BTreeMap<i32, (i64, i64)>,
    /// Ranges of those whose commit Kafka refused, per partition held: released to the group's
    /// [`GroupChecker::refused`] when the member loses the partition still without a later
    /// successful commit covering them.
    refused: BTreeMap<i32, Vec<(i64, i64)>>,
    assigned: u64,
    revoked: u64,
    consumed: u64,
    commits: u64,
    failed_commits: u64,
}

/// Follows the members of one consumer group on one topic; see the module docs.
#[derive(Debug, Clone)]
pub struct GroupChecker {
    topic: String,
    partitions: u32,
    members: BTreeMap<String, Member>,
    committed: BTreeMap<i32, i64>,
    /// Offset ranges consumed whose commit Kafka refused, per partition.
    refused: BTreeMap<i32, Vec<(i64, i64)>>,
    violations: Vec<GroupViolation>,
}

impl GroupChecker {
    /// A checker for a group reading `topic`, which has `partitions` partitions.
    pub fn new(topic: &str, partitions: u32) -> Self {
        Self {
            topic: topic.into(),
            partitions,
            members: BTreeMap::new(),
            committed: BTreeMap::new(),
            refused: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    /// Feeds every member's events, merged in time order (each member's own order kept).
    pub fn observe_all<'a>(
        &mut self,
        members: impl IntoIterator<Item = (&'a str, &'a [VerifiableEvent])>,
    ) {
        let mut all: Vec<(i64, usize, &str, &VerifiableEvent)> = Vec::new();
        for (member, events) in members {
            for (i, e) in events.iter().enumerate() {
                all.push((e.timestamp().unwrap_or(0), i, member, e));
            }
        }
        all.sort_by_key(|&(ts, i, _, _)| (ts, i));
        for (_, _, member, event) in all {
            self.observe(member, event);
        }
    }

    /// Feeds one event of `member`.
    pub fn observe(&mut self, member: &str, event: &VerifiableEvent) {
        let topic = self.topic.clone();
        let m = self.members.entry(member.to_string()).or_default();
        match event {
            VerifiableEvent::StartupComplete { .. } => {
                m.live = true;
                m.joined = false;
            }
            VerifiableEvent::ShutdownComplete { .. } => m.end(&mut self.refused),
            VerifiableEvent::PartitionsAssigned { partitions, .. } => {
                m.live = true;
                m.joined = true;
                m.assigned += 1;
                for tp in partitions.iter().filter(|tp| tp.topic == topic) {
                    m.assignment.insert(tp.partition);
                    m.position.remove(&tp.partition);
                    m.uncommitted.remove(&tp.partition);
                    m.release(tp.partition, &mut self.refused);
                }
            }
            VerifiableEvent::PartitionsRevoked { partitions, .. } => {
                m.revoked += 1;
                m.joined = false;
                for tp in partitions.iter().filter(|tp| tp.topic == topic) {
                    if !m.assignment.remove(&tp.partition) {
                        self.violations.push(GroupViolation::RevokedUnassigned {
                            member: member.into(),
                            partition: tp.partition,
                        });
                    }
                    m.position.remove(&tp.partition);
                    m.uncommitted.remove(&tp.partition);
                    m.release(tp.partition, &mut self.refused);
                }
            }
            VerifiableEvent::RecordsConsumed { partitions, .. } => {
                for batch in partitions.iter().filter(|b| b.topic == topic) {
                    let p = batch.partition;
                    m.consumed += batch.count;
                    if !m.assignment.contains(&p) {
                        self.violations.push(GroupViolation::ConsumedUnassigned {
                            member: member.into(),
                            partition: p,
                            min_offset: batch.min_offset,
                        });
                    }
                    if let Some(&expected) = m.position.get(&p) {
                        if expected != batch.min_offset {
                            self.violations.push(GroupViolation::UnexpectedOffset {
                                member: member.into(),
                                partition: p,
                                expected,
                                min_offset: batch.min_offset,
                            });
                        }
                    }
                    if let Some(&committed) = self.committed.get(&p) {
                        if batch.min_offset < committed {
                            self.violations.push(GroupViolation::ConsumedBehindCommit {
                                member: member.into(),
                                partition: p,
                                min_offset: batch.min_offset,
                                committed,
                            });
                        }
                    }
                    m.position.insert(p, batch.max_offset + 1);
                    let range = m
                        .uncommitted
                        .entry(p)
                        .or_insert((batch.min_offset, batch.max_offset));
                    range.1 = batch.max_offset;
                }
            }
            VerifiableEvent::OffsetsCommitted {
                offsets, success, ..
            } => {
                if !success {
                    m.failed_commits += 1;
                    // What it consumed below the refused offsets stays uncommitted: the next
                    // owner may read it again.
                    for c in offsets.iter().filter(|c| c.topic == topic) {
                        if let Some(&(first, last)) = m.uncommitted.get(&c.partition) {
                            if first < c.offset {
                                let range = (first, last.min(c.offset - 1));
                                let ranges = m.refused.entry(c.partition).or_default();
                                // Refusals one after the other: one range from the same start.
                                match ranges.last_mut() {
                                    Some(r) if r.0 == range.0 => r.1 = r.1.max(range.1),
                                    _ => ranges.push(range),
                                }
                            }
                        }
                    }
                    return;
                }
                m.commits += 1;
                for c in offsets.iter().filter(|c| c.topic == topic) {
                    let p = c.partition;
                    if let Some(range) = m.uncommitted.get_mut(&p) {
                        if range.1 < c.offset {
                            m.uncommitted.remove(&p);
                        } else {
                            range.0 = range.0.max(c.offset);
                        }
                    }
                    // A later commit covering what was refused before makes it committed.
                    if let Some(ranges) = m.refused.get_mut(&p) {
                        ranges.retain(|r| r.1 >= c.offset);
                        for r in ranges.iter_mut() {
                            r.0 = r.0.max(c.offset);
                        }
                    }
                    if !m.assignment.contains(&p) {
                        self.violations.push(GroupViolation::CommitUnassigned {
                            member: member.into(),
                            partition: p,
                            offset: c.offset,
                        });
                    }
                    let position = m.position.get(&p).copied();
                    if !matches!(position, Some(p) if p >= c.offset) {
                        self.violations.push(GroupViolation::CommitAhead {
                            member: member.into(),
                            partition: p,
                            offset: c.offset,
                            position,
                        });
                    }
                    if let Some(&previous) = self.committed.get(&p) {
                        if c.offset < previous {
                            self.violations.push(GroupViolation::CommitBackwards {
                                member: member.into(),
                                partition: p,
                                offset: c.offset,
                                previous,
                            });
                        }
                    }
                    self.committed.insert(p, c.offset);
                }
            }
            _ => {}
        }
    }

    /// `member` was killed: it holds nothing from now on.
    pub fn end(&mut self, member: &str) {
        if let Some(m) = self.members.get_mut(member) {
            m.end(&mut self.refused);
        }
    }

    /// The live members' assignments as they stand, and what is wrong with them.
    pub fn assignment(&self) -> AssignmentProblems {
        let mut owners: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        let mut out = AssignmentProblems::default();
        for (name, m) in self.members.iter().filter(|(_, m)| m.live) {
            out.assignments
                .insert(name.clone(), m.assignment.iter().copied().collect());
            for &p in &m.assignment {
                owners.entry(p).or_default().push(name.clone());
            }
        }
        let all = 0..i32::try_from(self.partitions).unwrap_or(i32::MAX);
        out.orphaned = all.clone().filter(|p| !owners.contains_key(p)).collect();
        out.unknown = owners
            .keys()
            .copied()
            .filter(|p| !all.contains(p))
            .collect();
        out.owned_twice = owners.into_iter().filter(|(_, o)| o.len() > 1).collect();
        out
    }

    /// Everything that went wrong, in the order seen.
    pub fn violations(&self) -> &[GroupViolation] {
        &self.violations
    }

    /// The last offset the group committed successfully on each partition, by the events.
    pub fn committed(&self) -> &BTreeMap<i32, i64> {
        &self.committed
    }

    /// The offset ranges (first, last) a member consumed and lost the partition of while Kafka
    /// had refused their commit, per partition, in the order lost (commits refused one after
    /// the other make one range).
    pub fn refused(&self) -> &BTreeMap<i32, Vec<(i64, i64)>> {
        &self.refused
    }

    /// Whether the record at `offset` of `partition` may be delivered again: a member
    /// consumed it and Kafka refused the commit covering it.
    pub fn redelivery_allowed(&self, partition: i32, offset: i64) -> bool {
        self.refused
            .get(&partition)
            .is_some_and(|ranges| ranges.iter().any(|&(a, b)| a <= offset && offset <= b))
    }

    /// The members that are live now.
    pub fn live_members(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, m)| m.live)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The live members whose last rebalance event was an assignment: joined, not
    /// rebalancing (a live member that has not joined holds nothing yet, and the assignment
    /// of the others can look complete without it).
    pub fn joined_members(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, m)| m.live && m.joined)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// How many times `member` had partitions revoked (every rebalance of an eager member,
    /// only those that moved something for a cooperative one).
    pub fn revocations(&self, member: &str) -> u64 {
        self.members.get(member).map_or(0, |m| m.revoked)
    }

    /// How many assignments all members together received: one per member per rebalance.
    pub fn assignments_received(&self) -> u64 {
        self.members.values().map(|m| m.assigned).sum()
    }

    /// Records consumed by all members together (duplicates counted).
    pub fn consumed(&self) -> u64 {
        self.members.values().map(|m| m.consumed).sum()
    }

    /// Successful and failed commits of all members together.
    pub fn commits(&self) -> (u64, u64) {
        self.members.values().fold((0, 0), |(ok, failed), m| {
            (ok + m.commits, failed + m.failed_commits)
        })
    }
}

impl Member {
    /// Moves the member's refused ranges of partition `p` to the group's `refused`: it lost
    /// `p`.
    fn release(&mut self, p: i32, refused: &mut BTreeMap<i32, Vec<(i64, i64)>>) {
        if let Some(ranges) = self.refused.remove(&p).filter(|r| !r.is_empty()) {
            refused.entry(p).or_default().extend(ranges);
        }
    }

    /// The member ended (shut down, or killed): it holds nothing, and what it had consumed
    /// under refused commits may be read again by the partitions' next owners.
    fn end(&mut self, refused: &mut BTreeMap<i32, Vec<(i64, i64)>>) {
        self.live = false;
        self.joined = false;
        self.assignment.clear();
        self.position.clear();
        self.uncommitted.clear();
        let held: Vec<i32> = self.refused.keys().copied().collect();
        for p in held {
            self.release(p, refused);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::verifiable::events::parse_events;

    fn events(lines: &str) -> Vec<VerifiableEvent> {
        parse_events(lines).unwrap()
    }

    const A: &str = r#"{"timestamp":1,"name":"startup_complete"}
{"timestamp":2,"name":"partitions_revoked","partitions":[]}
{"timestamp":3,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0},{"topic":"t","partition":1}]}
{"timestamp":4,"name":"records_consumed","count":10,"partitions":[{"topic":"t","partition":0,"count":10,"minOffset":0,"maxOffset":9}]}
{"timestamp":5,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":10}],"success":true}
"#;

    #[test]
    fn a_clean_member_passes_and_holds_its_partitions() {
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(A).as_slice())]);
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        assert!(c.assignment().is_clean(), "{}", c.assignment());
        assert_eq!(c.committed().get(&0), Some(&10));
        assert_eq!(c.joined_members(), ["a"]);
        // A member that started and was revoked has not joined (yet).
        let mut rebalancing = c.clone();
        rebalancing.observe(
            "a",
            &events(r#"{"timestamp":6,"name":"partitions_revoked","partitions":[]}"#)[0],
        );
        rebalancing.observe(
            "b",
            &events(r#"{"timestamp":6,"name":"startup_complete"}"#)[0],
        );
        assert!(rebalancing.joined_members().is_empty());
        assert_eq!(rebalancing.live_members(), ["a", "b"]);
        let mut three = GroupChecker::new("t", 3);
        three.observe_all([("a", events(A).as_slice())]);
        assert_eq!(three.assignment().orphaned, vec![2]);
        // b joined with nothing yet while a holds both: clean, not balanced.
        let mut joining = c.clone();
        joining.observe_all([(
            "b",
            events(
                r#"{"timestamp":6,"name":"startup_complete"}
{"timestamp":7,"name":"partitions_assigned","partitions":[]}
"#,
            )
            .as_slice(),
        )]);
        assert!(joining.assignment().is_clean() && !joining.assignment().is_balanced());
        assert!(c.assignment().is_balanced());
    }

    #[test]
    fn commits_ahead_backwards_and_foreign_are_named() {
        let bad = format!(
            "{A}{}",
            r#"{"timestamp":6,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":12}],"success":true}
{"timestamp":7,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":5}],"success":true}
{"timestamp":8,"name":"offsets_committed","offsets":[{"topic":"t","partition":3,"offset":1}],"success":true}
{"timestamp":9,"name":"records_consumed","count":1,"partitions":[{"topic":"t","partition":0,"count":1,"minOffset":3,"maxOffset":3}]}
"#
        );
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(&bad).as_slice())]);
        let kinds: Vec<String> = c
            .violations()
            .iter()
            .map(|v| {
                format!("{v:?}")
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "CommitAhead",
                "CommitBackwards",
                "CommitUnassigned",
                "CommitAhead",
                "UnexpectedOffset",
                "ConsumedBehindCommit"
            ]
        );
    }

    #[test]
    fn two_members_holding_one_partition_is_owned_twice_until_one_ends() {
        let b = A.replace("partition\":1}", "partition\":0}");
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(A).as_slice()), ("b", events(&b).as_slice())]);
        assert_eq!(
            c.assignment().owned_twice.get(&0),
            Some(&vec!["a".to_string(), "b".to_string()])
        );
        c.end("b");
        assert!(c.assignment().is_clean());
        assert_eq!(c.live_members(), ["a"]);
    }

    #[test]
    fn incremental_revocation_keeps_the_rest() {
        let more = format!(
            "{A}{}",
            r#"{"timestamp":6,"name":"partitions_revoked","partitions":[{"topic":"t","partition":1}]}
{"timestamp":7,"name":"partitions_revoked","partitions":[{"topic":"t","partition":1}]}
"#
        );
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(&more).as_slice())]);
        assert_eq!(c.assignment().orphaned, vec![1]);
        assert_eq!(c.revocations("a"), 3);
        assert_eq!(
            c.violations(),
            [GroupViolation::RevokedUnassigned {
                member: "a".into(),
                partition: 1
            }]
        );
    }

    #[test]
    fn records_whose_commit_was_refused_may_be_read_again_and_no_others() {
        // a: 0..=9 committed; 10..=14 refused; then loses partition 0; b reads from 10.
        let a = format!(
            "{A}{}",
            r#"{"timestamp":6,"name":"records_consumed","count":5,"partitions":[{"topic":"t","partition":0,"count":5,"minOffset":10,"maxOffset":14}]}
{"timestamp":7,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":15}],"success":false,"error":"undergoing a rebalance"}
{"timestamp":8,"name":"partitions_revoked","partitions":[{"topic":"t","partition":0}]}
"#
        );
        // b, assigned partition 0, reads it from the commit (10) on and commits 15.
        let b = r#"{"timestamp":9,"name":"startup_complete"}
{"timestamp":10,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0}]}
{"timestamp":11,"name":"records_consumed","count":5,"partitions":[{"topic":"t","partition":0,"count":5,"minOffset":10,"maxOffset":14}]}
{"timestamp":12,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":15}],"success":true}
"#;
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(&a).as_slice()), ("b", events(b).as_slice())]);
        assert_eq!(c.refused().get(&0), Some(&vec![(10, 14)]));
        assert!(c.violations().is_empty(), "{:?}", c.violations());
        // A third read of an excused record (c, from before b's commit) is still a violation.
        let third = r#"{"timestamp":13,"name":"startup_complete"}
{"timestamp":14,"name":"partitions_assigned","partitions":[{"topic":"t","partition":1}]}
{"timestamp":15,"name":"records_consumed","count":1,"partitions":[{"topic":"t","partition":0,"count":1,"minOffset":12,"maxOffset":12}]}
"#;
        let mut with_c = c.clone();
        with_c.observe_all([("c", events(third).as_slice())]);
        assert!(
            with_c.violations().iter().any(|v| matches!(
                v,
                GroupViolation::ConsumedBehindCommit { member, min_offset: 12, committed: 15, .. }
                    if member == "c"
            )),
            "{:?}",
            with_c.violations()
        );
        // A second refusal in a row extends the range.
        let twice = a.replace(
            r#"{"timestamp":8,"name":"partitions_revoked""#,
            r#"{"timestamp":7,"name":"records_consumed","count":2,"partitions":[{"topic":"t","partition":0,"count":2,"minOffset":15,"maxOffset":16}]}
{"timestamp":7,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":17}],"success":false,"error":"undergoing a rebalance"}
{"timestamp":8,"name":"partitions_revoked""#,
        );
        let mut c2 = GroupChecker::new("t", 2);
        c2.observe_all([("a", events(&twice).as_slice())]);
        assert_eq!(c2.refused().get(&0), Some(&vec![(10, 16)]));
        assert!(c.redelivery_allowed(0, 10) && c.redelivery_allowed(0, 14));
        assert!(!c.redelivery_allowed(0, 9), "committed before");
        assert!(!c.redelivery_allowed(0, 15), "never consumed by a");
        assert!(!c.redelivery_allowed(1, 12), "another partition");

        // The same refusal followed by a successful commit covering it before the partition
        // moved: nothing may be read again.
        let covered = a.replace(
            r#"{"timestamp":8,"name":"partitions_revoked""#,
            r#"{"timestamp":7,"name":"records_consumed","count":2,"partitions":[{"topic":"t","partition":0,"count":2,"minOffset":15,"maxOffset":16}]}
{"timestamp":7,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":17}],"success":true}
{"timestamp":8,"name":"partitions_revoked""#,
        );
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(&covered).as_slice())]);
        assert!(c.refused().is_empty(), "{:?}", c.refused());
        assert!(!c.redelivery_allowed(0, 12));

        // Refused while the member still holds the partition: not (yet) released.
        let held = a.replace(
            r#"{"timestamp":8,"name":"partitions_revoked","partitions":[{"topic":"t","partition":0}]}"#,
            "",
        );
        let mut c = GroupChecker::new("t", 2);
        c.observe_all([("a", events(&held).as_slice())]);
        assert!(!c.redelivery_allowed(0, 12));
        let mut shut_down = c.clone();
        c.end("a");
        assert!(
            c.redelivery_allowed(0, 12),
            "released when the member was killed"
        );
        shut_down.observe(
            "a",
            &events(r#"{"timestamp":9,"name":"shutdown_complete"}"#)[0],
        );
        assert!(
            shut_down.redelivery_allowed(0, 12),
            "released when the member shut down"
        );
    }
}
