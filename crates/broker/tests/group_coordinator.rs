//! The group coordinator driven directly with a manual clock: the join and sync barriers,
//! generations, member expiry, the rebalance timeout, static members, commit validation, and
//! replay of the group log giving back what was live; for consumer groups (KIP-848) the
//! member-epoch checks of commits and offset fetches, the empty group kept, the switch back to
//! the classic protocol, and removal of a member that does not revoke in time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use runnel_broker::groups::GroupSettings;
use runnel_broker::groups::clock::ManualClock;
use runnel_broker::groups::coordinator::{GroupCoordinator, OffsetToCommit, replay};
use runnel_broker::groups::group::{Group, GroupState, Reply};
use runnel_broker::groups::member::JoinParams;
use tokio::sync::oneshot;

const SESSION_MS: i32 = 6_000;
const REBALANCE_MS: i32 = 10_000;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    coordinator: GroupCoordinator,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let coordinator =
        GroupCoordinator::open(dir.path(), false, GroupSettings::default(), clock.clone()).expect("open coordinator");
    Fixture { _dir: dir, clock, coordinator }
}

fn params(member_id: &str, protocols: &[&str]) -> JoinParams {
    JoinParams {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".into(),
        protocols: protocols.iter().map(|p| (p.to_string(), Bytes::from(format!("meta-{member_id}-{p}")))).collect(),
        require_known_member_id: false,
    }
}

fn now<T: std::fmt::Debug>(reply: Reply<T>) -> T {
    match reply {
        Reply::Now(answer) => answer,
        Reply::Wait(_) => panic!("expected an answer now"),
    }
}

fn waiting<T>(reply: Reply<T>) -> oneshot::Receiver<T> {
    match reply {
        Reply::Wait(receiver) => receiver,
        Reply::Now(_) => panic!("expected to wait"),
    }
}

fn answered<T>(receiver: &mut oneshot::Receiver<T>) -> T {
    receiver.try_recv().expect("answered by now")
}

fn unanswered<T>(receiver: &mut oneshot::Receiver<T>) {
    assert!(matches!(receiver.try_recv(), Err(oneshot::error::TryRecvError::Empty)), "answered too early");
}

/// Joins a first member and completes its generation; returns its member id.
fn first_member(f: &Fixture, group: &str) -> (String, i32) {
    let mut join = waiting(f.coordinator.join(group, params("", &["range"])));
    let joined = answered(&mut join);
    assert_eq!(joined.error, 0);
    let mut sync = waiting(f.coordinator.sync(
        group,
        &joined.member_id,
        None,
        joined.generation,
        (None, None),
        vec![(joined.member_id.clone(), Bytes::from_static(b"all"))],
    ));
    assert_eq!(answered(&mut sync).assignment, Bytes::from_static(b"all"));
    (joined.member_id, joined.generation)
}

fn state(f: &Fixture, group: &str) -> &'static str {
    f.coordinator.describe(group).expect("group").state
}

#[test]
fn the_join_barrier_waits_for_every_member_and_the_leader_gets_everyones_metadata() {
    let f = fixture();
    let (a, generation) = first_member(&f, "g");
    assert_eq!((generation, state(&f, "g")), (1, "Stable"));

    // B joins: the group rebalances and B waits until A rejoins.
    let mut b_join = waiting(f.coordinator.join("g", params("", &["range"])));
    unanswered(&mut b_join);
    assert_eq!(state(&f, "g"), GroupState::PreparingRebalance.name());
    assert_eq!(f.coordinator.heartbeat("g", &a, None, 1), ResponseError::RebalanceInProgress.code());
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range"])));
    let a_joined = answered(&mut a_join);
    let b_joined = answered(&mut b_join);
    assert_eq!((a_joined.generation, b_joined.generation), (2, 2));
    assert_eq!(a_joined.leader, a);
    assert_eq!(a_joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(a_joined.members.len(), 2, "the leader gets every member");
    assert!(b_joined.members.is_empty(), "followers get no member list");
    let b = b_joined.member_id.clone();
    assert_eq!(state(&f, "g"), GroupState::CompletingRebalance.name());

    // The sync barrier: B's SyncGroup waits for the leader's assignment.
    let mut b_sync = waiting(f.coordinator.sync("g", &b, None, 2, (None, None), vec![]));
    unanswered(&mut b_sync);
    let mut a_sync = waiting(f.coordinator.sync(
        "g",
        &a,
        None,
        2,
        (Some("consumer"), Some("range")),
        vec![(a.clone(), Bytes::from_static(b"p0-3")), (b.clone(), Bytes::from_static(b"p4-7"))],
    ));
    assert_eq!(answered(&mut a_sync).assignment, Bytes::from_static(b"p0-3"));
    assert_eq!(answered(&mut b_sync).assignment, Bytes::from_static(b"p4-7"));
    assert_eq!(state(&f, "g"), GroupState::Stable.name());

    // The old generation is over.
    assert_eq!(f.coordinator.heartbeat("g", &a, None, 1), ResponseError::IllegalGeneration.code());
    assert_eq!(f.coordinator.heartbeat("g", &b, None, 2), 0);
}

#[test]
fn a_v4_member_first_gets_its_id_with_member_id_required() {
    let f = fixture();
    let mut p = params("", &["range"]);
    p.require_known_member_id = true;
    let first = now(f.coordinator.join("g", p.clone()));
    assert_eq!(first.error, ResponseError::MemberIdRequired.code());
    assert!(first.member_id.starts_with("client-"));
    p.member_id = first.member_id.clone();
    let mut join = waiting(f.coordinator.join("g", p));
    let joined = answered(&mut join);
    assert_eq!((joined.error, joined.member_id, joined.generation), (0, first.member_id, 1));
}

#[test]
fn members_without_heartbeats_expire_after_their_session_timeout() {
    let f = fixture();
    let (a, _) = first_member(&f, "g");
    let mut b_join = waiting(f.coordinator.join("g", params("", &["range"])));
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range"])));
    let b = answered(&mut b_join).member_id;
    answered(&mut a_join);
    let mut b_sync = waiting(f.coordinator.sync("g", &b, None, 2, (None, None), vec![]));
    let _a_sync = waiting(f.coordinator.sync("g", &a, None, 2, (None, None), vec![]));
    answered(&mut b_sync);

    // A keeps heartbeating, B goes silent.
    f.clock.advance(4_000);
    assert_eq!(f.coordinator.heartbeat("g", &a, None, 2), 0);
    f.coordinator.tick();
    assert_eq!(state(&f, "g"), GroupState::Stable.name(), "nobody has expired yet");
    f.clock.advance(2_001);
    f.coordinator.tick();
    assert_eq!(state(&f, "g"), GroupState::PreparingRebalance.name());
    assert_eq!(f.coordinator.heartbeat("g", &b, None, 2), ResponseError::UnknownMemberId.code());
    assert_eq!(f.coordinator.heartbeat("g", &a, None, 2), ResponseError::RebalanceInProgress.code());
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range"])));
    let rejoined = answered(&mut a_join);
    assert_eq!((rejoined.generation, rejoined.members.len()), (3, 1));
}

#[test]
fn a_group_whose_last_session_just_ended_is_empty_to_delete_and_describe_before_the_timer_runs() {
    let f = fixture();
    let (a, _) = first_member(&f, "g");
    f.clock.advance(SESSION_MS as i64 + 1);
    // No tick: the requests themselves see that the session is over, as Kafka's timers would.
    let listed = f.coordinator.list();
    assert_eq!(listed[0].state, "Empty", "{listed:?}");
    assert!(f.coordinator.describe("g").expect("group").members.is_empty());
    assert_eq!(f.coordinator.delete("g").0, 0);
    assert_eq!(f.coordinator.heartbeat("g", &a, None, 1), ResponseError::UnknownMemberId.code());

    let (_, _) = first_member(&f, "h");
    f.clock.advance(SESSION_MS as i64 + 1);
    assert_eq!(f.coordinator.delete("h").0, 0, "delete alone catches up too");
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let f = fixture();
    let (a, _) = first_member(&f, "g");
    let mut b_join = waiting(f.coordinator.join("g", params("", &["range"])));
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range"])));
    let b = answered(&mut b_join).member_id;
    answered(&mut a_join);
    let _b_sync = waiting(f.coordinator.sync("g", &b, None, 2, (None, None), vec![]));
    let _a_sync = waiting(f.coordinator.sync("g", &a, None, 2, (None, None), vec![]));

    // C joins; A rejoins; B heartbeats (it is alive) but never rejoins.
    let mut c_join = waiting(f.coordinator.join("g", params("", &["range"])));
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range"])));
    for _ in 0..3 {
        f.clock.advance(3_000);
        assert_eq!(f.coordinator.heartbeat("g", &b, None, 2), ResponseError::RebalanceInProgress.code());
        f.coordinator.tick();
        unanswered(&mut a_join);
    }
    f.clock.advance(1_001);
    f.coordinator.tick();
    let a_joined = answered(&mut a_join);
    let c_joined = answered(&mut c_join);
    assert_eq!((a_joined.generation, c_joined.generation), (3, 3));
    let members: Vec<&str> = a_joined.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(members, vec![a.as_str(), c_joined.member_id.as_str()]);
    assert_eq!(f.coordinator.heartbeat("g", &b, None, 3), ResponseError::UnknownMemberId.code());
}

#[test]
fn leaving_rebalances_at_once_and_the_last_member_leaving_empties_the_group() {
    let f = fixture();
    let (a, _) = first_member(&f, "g");
    assert_eq!(f.coordinator.leave("g", &[(a.clone(), None)]), vec![0]);
    let described = f.coordinator.describe("g").expect("group");
    assert_eq!(described.state, "Empty");
    assert!(described.members.is_empty());
    assert_eq!(f.coordinator.leave("g", &[(a, None)]), vec![ResponseError::UnknownMemberId.code()]);
    assert_eq!(f.coordinator.leave("nope", &[("x".into(), None)]), vec![ResponseError::UnknownMemberId.code()]);
}

#[test]
fn a_static_member_that_restarts_keeps_its_assignment_and_fences_its_old_self() {
    let f = fixture();
    let mut leader = params("", &["range"]);
    leader.group_instance_id = Some("leader-1".into());
    let mut join = waiting(f.coordinator.join("g", leader.clone()));
    let a = answered(&mut join).member_id;
    let mut follower = params("", &["range"]);
    follower.group_instance_id = Some("follower-1".into());
    let mut b_join = waiting(f.coordinator.join("g", follower.clone()));
    let mut a_join = waiting(f.coordinator.join("g", JoinParams { member_id: a.clone(), ..leader }));
    let b = answered(&mut b_join).member_id;
    answered(&mut a_join);
    let _b_sync = waiting(f.coordinator.sync("g", &b, Some("follower-1"), 2, (None, None), vec![]));
    let mut a_sync = waiting(f.coordinator.sync(
        "g",
        &a,
        Some("leader-1"),
        2,
        (None, None),
        vec![(a.clone(), Bytes::from_static(b"A")), (b.clone(), Bytes::from_static(b"B"))],
    ));
    answered(&mut a_sync);

    // The follower restarts with an empty member id: same generation, no rebalance, even though
    // its subscription metadata changed (a restarted consumer owns no partitions yet).
    follower.protocols = vec![("range".into(), Bytes::from_static(b"restarted"))];
    let rejoined = now(f.coordinator.join("g", follower));
    assert_eq!((rejoined.error, rejoined.generation), (0, 2));
    assert_ne!(rejoined.member_id, b);
    assert_eq!(state(&f, "g"), GroupState::Stable.name());
    let synced = now(f.coordinator.sync("g", &rejoined.member_id, Some("follower-1"), 2, (None, None), vec![]));
    assert_eq!(synced.assignment, Bytes::from_static(b"B"));
    // Its previous incarnation is fenced.
    assert_eq!(f.coordinator.heartbeat("g", &b, Some("follower-1"), 2), ResponseError::FencedInstanceId.code());

    // The leader restarts: no rebalance either, and the answer names the leader as it was, so the
    // new incarnation syncs as a follower and gets its old assignment.
    let mut restarted_leader = params("", &["range"]);
    restarted_leader.group_instance_id = Some("leader-1".into());
    let rejoined = now(f.coordinator.join("g", restarted_leader));
    assert_eq!((rejoined.error, rejoined.generation, rejoined.leader.as_str()), (0, 2, a.as_str()));
    assert!(rejoined.members.is_empty());
    assert_eq!(state(&f, "g"), GroupState::Stable.name());
    let synced = now(f.coordinator.sync("g", &rejoined.member_id, Some("leader-1"), 2, (None, None), vec![]));
    assert_eq!(synced.assignment, Bytes::from_static(b"A"));
}

#[test]
fn a_static_member_rejoining_without_the_groups_assignor_triggers_a_rebalance() {
    let f = fixture();
    let mut member = params("", &["range", "roundrobin"]);
    member.group_instance_id = Some("only".into());
    let mut join = waiting(f.coordinator.join("g", member.clone()));
    let first = answered(&mut join);
    assert_eq!(first.protocol_name.as_deref(), Some("range"));
    let mut sync = waiting(f.coordinator.sync("g", &first.member_id, Some("only"), 1, (None, None), vec![]));
    answered(&mut sync);
    member.protocols = vec![("roundrobin".into(), Bytes::new())];
    let mut rejoin = waiting(f.coordinator.join("g", member));
    let rejoined = answered(&mut rejoin);
    assert_eq!((rejoined.generation, rejoined.protocol_name.as_deref()), (2, Some("roundrobin")));
}

#[test]
fn members_must_share_a_protocol_and_sessions_must_be_in_range() {
    let f = fixture();
    first_member(&f, "g");
    let joined = now(f.coordinator.join("g", params("", &["roundrobin"])));
    assert_eq!(joined.error, ResponseError::InconsistentGroupProtocol.code());
    let mut short = params("", &["range"]);
    short.session_timeout_ms = 10;
    assert_eq!(now(f.coordinator.join("h", short)).error, ResponseError::InvalidSessionTimeout.code());
    assert_eq!(now(f.coordinator.join("", params("", &["range"]))).error, ResponseError::InvalidGroupId.code());
    assert_eq!(now(f.coordinator.join("g2", params("ghost", &["range"]))).error, ResponseError::UnknownMemberId.code());
}

#[test]
fn the_most_voted_common_assignor_is_chosen() {
    let f = fixture();
    let mut a_join = waiting(f.coordinator.join("g", params("", &["range", "cooperative-sticky"])));
    let a = answered(&mut a_join).member_id;
    let _a_sync = waiting(f.coordinator.sync("g", &a, None, 1, (None, None), vec![]));
    let mut b_join = waiting(f.coordinator.join("g", params("", &["cooperative-sticky", "range"])));
    let mut c_join = waiting(f.coordinator.join("g", params("", &["cooperative-sticky", "roundrobin", "range"])));
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range", "cooperative-sticky"])));
    let chosen: Vec<Option<String>> =
        [&mut a_join, &mut b_join, &mut c_join].into_iter().map(|r| answered(r).protocol_name).collect();
    assert!(chosen.iter().all(|p| p.as_deref() == Some("cooperative-sticky")), "{chosen:?}");
}

fn commit(f: &Fixture, group: &str, member: &str, generation: i32, offset: i64) -> Vec<i16> {
    let offsets =
        [OffsetToCommit { topic: "t".into(), partition: 0, offset, leader_epoch: -1, metadata: Some("m".into()) }];
    f.coordinator.commit(group, member, None, generation, &offsets, |t, p| t == "t" && p == 0).errors
}

#[test]
fn commits_are_checked_against_the_member_and_generation() {
    let f = fixture();
    // A group not using group management commits with generation -1.
    assert_eq!(commit(&f, "simple", "", -1, 5), vec![0]);
    assert_eq!(f.coordinator.committed("simple", None)[0].2.as_ref().map(|c| c.offset), Some(5));
    // Generation >= 0 for a group that does not exist is from a past life.
    assert_eq!(commit(&f, "ghost", "m", 3, 5), vec![ResponseError::IllegalGeneration.code()]);

    let (a, generation) = first_member(&f, "g");
    assert_eq!(commit(&f, "g", &a, generation, 10), vec![0]);
    assert_eq!(commit(&f, "g", &a, generation + 1, 11), vec![ResponseError::IllegalGeneration.code()]);
    assert_eq!(commit(&f, "g", "stranger", generation, 11), vec![ResponseError::UnknownMemberId.code()]);
    // An admin commit (generation -1) is refused while the group has members.
    assert_eq!(commit(&f, "g", "", -1, 0), vec![ResponseError::UnknownMemberId.code()]);

    let offsets = [
        OffsetToCommit { topic: "t".into(), partition: 9, offset: 1, leader_epoch: -1, metadata: None },
        OffsetToCommit {
            topic: "t".into(),
            partition: 0,
            offset: 1,
            leader_epoch: -1,
            metadata: Some("x".repeat(5000)),
        },
    ];
    let outcome = f.coordinator.commit("g", &a, None, generation, &offsets, |t, p| t == "t" && p == 0);
    assert_eq!(
        outcome.errors,
        vec![ResponseError::UnknownTopicOrPartition.code(), ResponseError::OffsetMetadataTooLarge.code()]
    );
    assert_eq!(f.coordinator.committed("g", None)[0].2.as_ref().map(|c| c.offset), Some(10));
}

#[test]
fn offsets_of_an_empty_group_expire_after_the_retention() {
    let f = fixture();
    let (a, generation) = first_member(&f, "g");
    assert_eq!(commit(&f, "g", &a, generation, 10), vec![0]);
    f.coordinator.leave("g", &[(a, None)]);
    let retention = GroupSettings::default().offsets_retention_ms;
    f.clock.advance(retention - 1);
    f.coordinator.tick();
    assert_eq!(f.coordinator.committed("g", None).len(), 1);
    f.clock.advance(1);
    f.coordinator.tick();
    assert!(f.coordinator.committed("g", None).is_empty());
    assert!(f.coordinator.describe("g").is_none(), "a group with nothing left is forgotten");
}

/// What the group log must carry: every committed offset, and each group's last completed
/// generation (members and assignments) when it is Stable or Empty.
#[derive(Debug, PartialEq, Eq)]
struct Durable {
    offsets: BTreeMap<(String, String, i32), (i64, String)>,
    settled: BTreeMap<String, Settled>,
}

/// Generation, assignor, leader, and (member, assignment) pairs.
type Settled = (i32, Option<String>, Option<String>, Vec<(String, Bytes)>);

fn durable(groups: &HashMap<String, Group>, settled_only_for: Option<&BTreeMap<String, GroupState>>) -> Durable {
    let mut offsets = BTreeMap::new();
    let mut settled = BTreeMap::new();
    for (id, group) in groups {
        for ((topic, partition), o) in &group.offsets {
            offsets.insert((id.clone(), topic.clone(), *partition), (o.offset, o.metadata.clone()));
        }
        let state = settled_only_for.map_or(group.state(), |states| states[id]);
        if matches!(state, GroupState::Stable | GroupState::Empty) {
            let members = group.members().iter().map(|m| (m.id.clone(), m.assignment.clone())).collect();
            settled.insert(
                id.clone(),
                (group.generation(), group.protocol().map(str::to_string), group.leader().map(str::to_string), members),
            );
        }
    }
    Durable { offsets, settled }
}

#[test]
fn replaying_any_prefix_of_the_group_log_gives_the_state_that_was_live() {
    let f = fixture();
    let mut checkpoints: Vec<(i64, Durable, BTreeMap<String, GroupState>)> = Vec::new();
    let mut checkpoint = |f: &Fixture| {
        let end = f.coordinator.log().offsets().1;
        let (view, states) = f.coordinator.inspect(|groups| {
            let states = groups.iter().map(|(id, g)| (id.clone(), g.state())).collect();
            (durable(groups, None), states)
        });
        checkpoints.push((end, view, states));
    };
    checkpoint(&f);
    let (a, _) = first_member(&f, "g");
    checkpoint(&f);
    assert_eq!(commit(&f, "g", &a, 1, 7), vec![0]);
    checkpoint(&f);
    let mut b_join = waiting(f.coordinator.join("g", params("", &["range"])));
    checkpoint(&f);
    let mut a_join = waiting(f.coordinator.join("g", params(&a, &["range"])));
    let b = answered(&mut b_join).member_id;
    answered(&mut a_join);
    checkpoint(&f);
    let _b_sync = waiting(f.coordinator.sync("g", &b, None, 2, (None, None), vec![]));
    let _a_sync = waiting(f.coordinator.sync(
        "g",
        &a,
        None,
        2,
        (None, None),
        vec![(a.clone(), Bytes::from_static(b"A")), (b.clone(), Bytes::from_static(b"B"))],
    ));
    checkpoint(&f);
    assert_eq!(commit(&f, "g", &b, 2, 12), vec![0]);
    assert_eq!(commit(&f, "simple", "", -1, 3), vec![0]);
    checkpoint(&f);
    f.coordinator.leave("g", &[(a.clone(), None), (b.clone(), None)]);
    checkpoint(&f);
    assert_eq!(f.coordinator.delete("simple").0, 0);
    checkpoint(&f);
    assert_eq!(f.coordinator.delete("g").0, 0);
    checkpoint(&f);
    assert!(checkpoints.windows(2).all(|w| w[0].0 <= w[1].0));

    let now_ms = 5_000_000;
    for (end, live, states) in &checkpoints {
        let replayed = replay(f.coordinator.log(), *end, now_ms).expect("replay");
        let replayed_view = durable(&replayed, None);
        assert_eq!(replayed_view.offsets, live.offsets, "offsets replayed to {end}");
        for (id, settled) in &live.settled {
            assert_eq!(replayed_view.settled.get(id), Some(settled), "group {id} replayed to {end}");
        }
        // Groups live in a rebalance come back as their last settled generation.
        for id in replayed.keys() {
            assert!(states.contains_key(id), "replay to {end} invented group {id}");
        }
    }
    // Every record boundary replays without error, and the whole log to the final state.
    let end = f.coordinator.log().offsets().1;
    for until in 0..=end {
        replay(f.coordinator.log(), until, now_ms).expect("replay a prefix");
    }
    assert!(replay(f.coordinator.log(), end, now_ms).expect("replay").is_empty());
}

#[test]
fn a_reopened_coordinator_has_the_committed_offsets_and_stable_members() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let (a, generation) = {
        let f = Fixture {
            coordinator: GroupCoordinator::open(dir.path(), false, GroupSettings::default(), clock.clone())
                .expect("open"),
            clock: clock.clone(),
            _dir: tempfile::tempdir().expect("unused"),
        };
        let (a, generation) = first_member(&f, "g");
        assert_eq!(commit(&f, "g", &a, generation, 42), vec![0]);
        (a, generation)
    };
    let reopened = GroupCoordinator::open(dir.path(), false, GroupSettings::default(), clock).expect("reopen");
    assert_eq!(reopened.committed("g", None)[0].2.as_ref().map(|c| (c.offset, c.metadata.as_str())), Some((42, "m")));
    let described = reopened.describe("g").expect("group");
    assert_eq!(described.state, "Stable");
    assert_eq!(described.members[0].assignment, Bytes::from_static(b"all"));
    assert_eq!(reopened.heartbeat("g", &a, None, generation), 0, "the member carries on after a restart");
}

fn open_with(dir: &std::path::Path, clock: Arc<ManualClock>, compact_after_records: u64) -> GroupCoordinator {
    let settings = GroupSettings { compact_after_records, ..GroupSettings::default() };
    GroupCoordinator::open(dir, false, settings, clock).expect("open coordinator")
}

#[test]
fn a_log_of_mostly_superseded_commits_is_compacted_at_startup_to_the_same_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let f = Fixture {
        coordinator: open_with(dir.path(), clock.clone(), 100),
        clock: clock.clone(),
        _dir: tempfile::tempdir().expect("unused"),
    };
    let (a, generation) = first_member(&f, "g");
    for offset in 0..500 {
        assert_eq!(commit(&f, "g", &a, generation, offset), vec![0]);
        assert_eq!(commit(&f, "simple", "", -1, offset * 2), vec![0]);
    }
    let before = f.coordinator.log().offsets().1;
    let live_before = f.coordinator.inspect(|groups| durable(groups, None));
    drop(f);

    let reopened = open_with(dir.path(), clock.clone(), 100);
    let after = reopened.log().offsets();
    assert_eq!(after, (0, 3), "one metadata record and two offsets remain of {before}");
    assert_eq!(reopened.inspect(|groups| durable(groups, None)), live_before);
    assert_eq!(reopened.heartbeat("g", &a, None, generation), 0);
    // The compacted log is a normal log: it takes commits and replays them.
    assert_eq!(
        reopened
            .commit(
                "g",
                &a,
                None,
                generation,
                &[OffsetToCommit { topic: "t".into(), partition: 0, offset: 777, leader_epoch: -1, metadata: None }],
                |_, _| true
            )
            .errors,
        vec![0]
    );
    drop(reopened);
    let again = open_with(dir.path(), clock, 100);
    assert_eq!(again.committed("g", None)[0].2.as_ref().map(|c| c.offset), Some(777));
    assert!(!dir.path().join("__consumer_offsets-0.compacting").exists());
    assert!(!dir.path().join("__consumer_offsets-0.old").exists());
}

#[test]
fn an_interrupted_compaction_is_finished_or_discarded_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_000_000));
    let log_dir = dir.path().join("__consumer_offsets-0");
    {
        let coordinator = open_with(dir.path(), clock.clone(), u64::MAX);
        let offsets = [OffsetToCommit { topic: "t".into(), partition: 0, offset: 9, leader_epoch: -1, metadata: None }];
        assert_eq!(coordinator.commit("simple", "", None, -1, &offsets, |_, _| true).errors, vec![0]);
    }
    // Crash while writing the new log: the old log is still in place, the partial one goes.
    let partial = dir.path().join("__consumer_offsets-0.compacting");
    std::fs::create_dir(&partial).expect("partial dir");
    std::fs::write(partial.join("00000000000000000000.log"), b"torn").expect("torn file");
    let coordinator = open_with(dir.path(), clock.clone(), u64::MAX);
    assert_eq!(coordinator.committed("simple", None)[0].2.as_ref().map(|c| c.offset), Some(9));
    assert!(!partial.exists());
    drop(coordinator);

    // Crash after the old log was moved aside: the complete new log is moved into place.
    std::fs::rename(&log_dir, &partial).expect("complete new log");
    std::fs::create_dir(dir.path().join("__consumer_offsets-0.old")).expect("old log");
    let coordinator = open_with(dir.path(), clock, u64::MAX);
    assert_eq!(coordinator.committed("simple", None)[0].2.as_ref().map(|c| c.offset), Some(9));
    assert!(log_dir.exists() && !partial.exists());
    assert!(!dir.path().join("__consumer_offsets-0.old").exists());
}

#[test]
fn offsets_of_a_topic_a_live_member_subscribes_to_cannot_be_deleted() {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let f = fixture();
    let subscription = ConsumerProtocolSubscription::default().with_topics(vec![StrBytes::from_static_str("t")]);
    let mut metadata = bytes::BytesMut::new();
    metadata.extend_from_slice(&1i16.to_be_bytes());
    subscription.encode(&mut metadata, 1).expect("encode subscription");
    let mut join_params = params("", &["range"]);
    join_params.protocols = vec![("range".to_string(), metadata.freeze())];
    let mut join = waiting(f.coordinator.join("g", join_params));
    let a = answered(&mut join).member_id;
    let _sync = waiting(f.coordinator.sync("g", &a, None, 1, (None, None), vec![]));
    assert_eq!(commit(&f, "g", &a, 1, 5), vec![0]);
    let exists = |t: &str, p: i32| (t == "t" || t == "other") && p == 0;
    let (errors, _) =
        f.coordinator.delete_offsets("g", &[("t".into(), 0), ("other".into(), 0)], exists).expect("group exists");
    assert_eq!(errors, vec![ResponseError::GroupSubscribedToTopic.code(), 0]);
    assert_eq!(f.coordinator.committed("g", None).len(), 1, "the subscribed topic's offset stays");
}

#[test]
fn offsets_committed_in_a_transaction_wait_for_its_marker_also_across_a_restart() {
    use runnel_log::control::ControlType;
    let f = fixture();
    let offsets =
        |offset| [OffsetToCommit { topic: "t".into(), partition: 0, offset, leader_epoch: -1, metadata: None }];
    let exists = |t: &str, p: i32| t == "t" && p == 0;
    assert_eq!(f.coordinator.txn_commit("g", (5, 0), "", None, -1, &offsets(10), exists).errors, vec![0]);
    assert_eq!(f.coordinator.txn_commit("g", (6, 0), "", None, -1, &offsets(99), exists).errors, vec![0]);
    assert_eq!(f.coordinator.committed("g", None), vec![], "nothing committed yet");
    assert!(f.coordinator.has_pending_offset("g", "t", 0));
    let reopen =
        || GroupCoordinator::open(f._dir.path(), false, GroupSettings::default(), f.clock.clone()).expect("reopen");
    let reopened = reopen();
    assert!(reopened.has_pending_offset("g", "t", 0), "pending after a restart too");
    drop(reopened);

    // Producer 5 commits, producer 6 aborts: markers into the group log, then the ends.
    let log = f.coordinator.log_partition();
    log.write_marker(5, 0, ControlType::Commit, 0, 0).expect("marker");
    f.coordinator.end_transaction(5, true);
    log.write_marker(6, 0, ControlType::Abort, 0, 0).expect("marker");
    f.coordinator.end_transaction(6, false);
    let committed = |c: &GroupCoordinator| {
        c.committed("g", None).into_iter().map(|(_, _, o)| o.map(|o| o.offset)).collect::<Vec<_>>()
    };
    assert_eq!(committed(&f.coordinator), vec![Some(10)]);
    assert!(!f.coordinator.has_pending_offset("g", "t", 0));
    let reopened = reopen();
    assert_eq!(committed(&reopened), vec![Some(10)], "the replay applies the commit and drops the abort");
    assert!(!reopened.has_pending_offset("g", "t", 0));
}

// The consumer group protocol (KIP-848), driven through ConsumerGroupHeartbeat's entry point.

mod consumer_protocol {
    use super::*;
    use runnel_broker::groups::assignor::Assignment;
    use runnel_broker::groups::consumer_group::{Heartbeat, HeartbeatAnswer, TopicLookup};
    use runnel_broker::groups::group::EMPTY_CONSUMER_GROUP_KEPT_MS;
    use uuid::Uuid;

    const TOPIC_ID: Uuid = Uuid::from_u128(7);

    /// One topic "t" of two partitions.
    struct OneTopic;

    impl TopicLookup for OneTopic {
        fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
            (name == "t").then_some((TOPIC_ID, 2))
        }
        fn names(&self) -> Vec<String> {
            vec!["t".into()]
        }
    }

    fn heartbeat(member_id: &str, epoch: i32, owned: Option<Assignment>) -> Heartbeat {
        Heartbeat {
            member_id: member_id.into(),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: if epoch == 0 { 5_000 } else { -1 },
            topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
            topic_regex: None,
            server_assignor: None,
            owned,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn join(f: &Fixture, group: &str, member_id: &str) -> HeartbeatAnswer {
        f.coordinator
            .consumer_heartbeat(group, heartbeat(member_id, 0, Some(Assignment::new())), &OneTopic)
            .expect("join")
    }

    fn partitions(answer: &HeartbeatAnswer) -> Vec<i32> {
        answer
            .assignment
            .as_ref()
            .and_then(|a| a.get(&TOPIC_ID))
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    fn owning(partitions: &[i32]) -> Option<Assignment> {
        Some(Assignment::from([(TOPIC_ID, partitions.iter().copied().collect())]))
    }

    #[test]
    fn a_members_commits_and_offset_fetches_must_carry_its_epoch() {
        let f = fixture();
        let a = join(&f, "g", "a");
        assert!(a.member_epoch >= 1);
        assert_eq!(partitions(&a), vec![0, 1]);
        assert_eq!(commit(&f, "g", "a", a.member_epoch, 10), vec![0]);
        assert_eq!(commit(&f, "g", "a", a.member_epoch - 1, 11), vec![ResponseError::StaleMemberEpoch.code()]);
        assert_eq!(commit(&f, "g", "stranger", a.member_epoch, 11), vec![ResponseError::UnknownMemberId.code()]);
        // An admin commit (no member, epoch -1) is refused while the group has members.
        assert_eq!(commit(&f, "g", "", -1, 0), vec![ResponseError::UnknownMemberId.code()]);
        // Inside a transaction a wrong epoch is ILLEGAL_GENERATION (KIP-447's check).
        let offsets =
            [OffsetToCommit { topic: "t".into(), partition: 0, offset: 12, leader_epoch: -1, metadata: None }];
        let stale = f.coordinator.txn_commit("g", (1, 0), "a", None, a.member_epoch + 1, &offsets, |_, _| true);
        assert_eq!(stale.errors, vec![ResponseError::IllegalGeneration.code()]);
        assert_eq!(f.coordinator.committed("g", None)[0].2.as_ref().map(|c| c.offset), Some(10));

        // OffsetFetch v9 from a member is checked the same way; admin reads are not.
        assert_eq!(f.coordinator.validate_fetch("g", Some("a"), a.member_epoch), Ok(()));
        assert_eq!(
            f.coordinator.validate_fetch("g", Some("a"), a.member_epoch - 1),
            Err(ResponseError::StaleMemberEpoch.code())
        );
        assert_eq!(f.coordinator.validate_fetch("g", Some("stranger"), 1), Err(ResponseError::UnknownMemberId.code()));
        assert_eq!(f.coordinator.validate_fetch("g", None, -1), Ok(()));
    }

    #[test]
    fn an_empty_consumer_group_is_kept_its_epoch_never_goes_back_and_then_it_is_forgotten() {
        let f = fixture();
        let a = join(&f, "g", "a");
        assert_eq!(commit(&f, "g", "a", a.member_epoch, 3), vec![0]);
        let epoch_then = f.coordinator.consumer_group("g").expect("group").epoch;
        let left = f.coordinator.consumer_heartbeat("g", heartbeat("a", -1, None), &OneTopic).expect("leave");
        assert_eq!(left.member_epoch, -1);
        f.clock.advance(EMPTY_CONSUMER_GROUP_KEPT_MS / 2);
        f.coordinator.tick();
        let kept = f.coordinator.consumer_group("g").expect("an empty consumer group is kept");
        assert!(kept.members.is_empty());
        assert!(kept.epoch > epoch_then, "the member leaving moved the group epoch");

        // A new member's epoch follows the group's, never reusing one.
        let b = join(&f, "g", "b");
        assert!(b.member_epoch > kept.epoch, "{} after {}", b.member_epoch, kept.epoch);
        assert_eq!(f.coordinator.committed("g", None)[0].2.as_ref().map(|c| c.offset), Some(3));
        f.coordinator.consumer_heartbeat("g", heartbeat("b", -1, None), &OneTopic).expect("leave");

        // Empty with offsets it stays; with the offsets deleted and the time up, it goes.
        f.clock.advance(EMPTY_CONSUMER_GROUP_KEPT_MS + 1);
        f.coordinator.tick();
        assert!(f.coordinator.consumer_group("g").is_some(), "its committed offsets keep it");
        f.coordinator.delete_offsets("g", &[("t".to_string(), 0)], |_, _| true).expect("delete the offsets");
        f.coordinator.tick();
        assert!(f.coordinator.consumer_group("g").is_none(), "forgotten once empty, without offsets, for long enough");

        // A group that never committed is kept empty for the same time, then forgotten.
        join(&f, "h", "c");
        f.coordinator.consumer_heartbeat("h", heartbeat("c", -1, None), &OneTopic).expect("leave");
        f.clock.advance(EMPTY_CONSUMER_GROUP_KEPT_MS - 1_000);
        f.coordinator.tick();
        assert!(f.coordinator.consumer_group("h").is_some(), "kept while recently empty");
        f.clock.advance(2_000);
        f.coordinator.tick();
        assert!(f.coordinator.consumer_group("h").is_none(), "forgotten after being empty for long enough");
    }

    #[test]
    fn a_classic_member_cannot_join_a_live_consumer_group_but_turns_an_empty_one_classic_keeping_offsets() {
        let f = fixture();
        let a = join(&f, "g", "a");
        assert_eq!(commit(&f, "g", "a", a.member_epoch, 42), vec![0]);
        let refused = now(f.coordinator.join("g", params("", &["range"])));
        assert_eq!(refused.error, ResponseError::InconsistentGroupProtocol.code());

        f.coordinator.consumer_heartbeat("g", heartbeat("a", -1, None), &OneTopic).expect("leave");
        let (member, generation) = first_member(&f, "g");
        assert!(f.coordinator.consumer_group("g").is_none(), "the group is classic now");
        assert_eq!(f.coordinator.committed("g", None)[0].2.as_ref().map(|c| c.offset), Some(42));
        assert_eq!(commit(&f, "g", &member, generation, 43), vec![0]);
    }

    #[test]
    fn a_member_that_does_not_revoke_within_its_rebalance_timeout_is_removed() {
        let f = fixture();
        let a = join(&f, "g", "a");
        assert_eq!(partitions(&a), vec![0, 1]);
        // b joins: a must give one partition up, which b gets only once a has let it go.
        let b = join(&f, "g", "b");
        assert!(partitions(&b).is_empty(), "a still owns both: {:?}", partitions(&b));
        let asked = f.coordinator.consumer_heartbeat("g", heartbeat("a", a.member_epoch, owning(&[0, 1])), &OneTopic);
        let asked = asked.expect("a's heartbeat");
        assert_eq!(partitions(&asked).len(), 1, "a is asked to keep one partition");

        // a keeps heartbeating without revoking, past its 5 s rebalance timeout.
        f.clock.advance(3_000);
        let _ = f.coordinator.consumer_heartbeat("g", heartbeat("a", asked.member_epoch, owning(&[0, 1])), &OneTopic);
        f.clock.advance(3_000);
        f.coordinator.tick();
        let group = f.coordinator.consumer_group("g").expect("group");
        assert!(!group.members.contains_key("a"), "a was removed");
        let fenced =
            f.coordinator.consumer_heartbeat("g", heartbeat("a", asked.member_epoch, owning(&[0, 1])), &OneTopic);
        assert_eq!(fenced.expect_err("a is gone").code, ResponseError::UnknownMemberId.code());

        // b now gets both partitions.
        let b_now = f.coordinator.consumer_heartbeat("g", heartbeat("b", b.member_epoch, owning(&[])), &OneTopic);
        assert_eq!(partitions(&b_now.expect("b's heartbeat")), vec![0, 1]);
    }
}
