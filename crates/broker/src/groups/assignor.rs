//! The server-side assignors of KIP-848 consumer groups: `uniform` (balanced and sticky, Kafka's
//! default) and `range` (contiguous ranges per topic, co-partitioned). Pure functions from the
//! members' subscriptions and the topics' partition counts to a target assignment.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id: what a member owns or is meant to own.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The assignors this broker offers, in `group.consumer.assignors` order.
pub const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// One member as an assignor sees it.
#[derive(Debug, Clone)]
pub struct AssignorMember<'a> {
    /// Member id.
    pub id: &'a str,
    /// Topic ids it subscribes to (those that exist).
    pub topics: BTreeSet<Uuid>,
    /// Its previous target, which `uniform` keeps where balance allows.
    pub previous: Option<&'a Assignment>,
}

/// Computes a target assignment with the named assignor (`uniform` or `range`); `partitions`
/// holds each subscribed topic's partition count. Every partition of a subscribed topic goes to
/// exactly one member subscribing to it.
pub fn assign(
    assignor: &str,
    members: &[AssignorMember<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    if assignor == "range" { range(members, partitions) } else { uniform(members, partitions) }
}

fn count(assignment: &Assignment) -> usize {
    assignment.values().map(BTreeSet::len).sum()
}

/// Balanced and sticky: each member keeps what it had while it stays within its fair share,
/// free partitions go to the least loaded eligible member, and partitions then move from the
/// most to the least loaded member until no eligible pair differs by more than one.
fn uniform(members: &[AssignorMember<'_>], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    let mut members: Vec<&AssignorMember<'_>> = members.iter().collect();
    members.sort_by_key(|m| m.id);
    let mut result: BTreeMap<String, Assignment> =
        members.iter().map(|m| (m.id.to_string(), Assignment::new())).collect();
    // Each member's load, kept as partitions are handed out (by position in `members`).
    let mut load = vec![0usize; members.len()];
    let mut subscribers: BTreeMap<Uuid, usize> = BTreeMap::new();
    for member in &members {
        for topic in &member.topics {
            *subscribers.entry(*topic).or_default() += 1;
        }
    }
    // A member's fair share: its share of each topic it subscribes to, rounded up.
    let share = |m: &AssignorMember<'_>| -> usize {
        m.topics
            .iter()
            .filter_map(|t| partitions.get(t).map(|n| (*n as usize).div_ceil(subscribers.get(t).copied().unwrap_or(1))))
            .sum()
    };
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for (i, member) in members.iter().enumerate() {
        let limit = share(member);
        let mine = result.get_mut(member.id).expect("every member has an entry");
        let kept =
            member.previous.into_iter().flat_map(|p| p.iter()).flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)));
        for (topic, partition) in kept {
            let exists = partitions.get(&topic).is_some_and(|n| partition < *n);
            if exists && member.topics.contains(&topic) && load[i] < limit && taken.insert((topic, partition)) {
                mine.entry(topic).or_default().insert(partition);
                load[i] += 1;
            }
        }
    }
    for (topic, n) in partitions {
        let eligible: Vec<usize> = (0..members.len()).filter(|i| members[*i].topics.contains(topic)).collect();
        for partition in 0..*n {
            if taken.contains(&(*topic, partition)) {
                continue;
            }
            // Members are sorted by id, so the first least loaded is the one with the lowest id.
            if let Some(&least) = eligible.iter().min_by_key(|i| load[**i]) {
                result.get_mut(members[least].id).expect("entry").entry(*topic).or_default().insert(partition);
                load[least] += 1;
                taken.insert((*topic, partition));
            }
        }
    }
    balance(&members, &mut result);
    result.retain(|_, a| {
        a.retain(|_, ps| !ps.is_empty());
        true
    });
    result
}

/// Moves partitions from a member to an eligible one with at least two fewer, until none can.
fn balance(members: &[&AssignorMember<'_>], result: &mut BTreeMap<String, Assignment>) {
    let limit = result.values().map(count).sum::<usize>() * members.len().max(1);
    for _ in 0..limit {
        let mut moved = false;
        let mut by_load: Vec<&AssignorMember<'_>> = members.to_vec();
        by_load.sort_by_key(|m| (std::cmp::Reverse(count(&result[m.id])), m.id));
        'outer: for giver in &by_load {
            let giver_count = count(&result[giver.id]);
            for taker in by_load.iter().rev() {
                if count(&result[taker.id]) + 1 >= giver_count {
                    break;
                }
                let candidate = result[giver.id]
                    .iter()
                    .rev()
                    .filter(|(t, _)| taker.topics.contains(t))
                    .find_map(|(t, ps)| ps.last().map(|p| (*t, *p)));
                if let Some((topic, partition)) = candidate {
                    let from = result.get_mut(giver.id).expect("entry").get_mut(&topic).expect("topic");
                    from.remove(&partition);
                    result.get_mut(taker.id).expect("entry").entry(topic).or_default().insert(partition);
                    moved = true;
                    break 'outer;
                }
            }
        }
        if !moved {
            return;
        }
    }
}

/// Per topic, its subscribers sorted by member id get contiguous ranges, the first ones one
/// partition more when the count does not divide evenly (Kafka's range assignor).
fn range(members: &[AssignorMember<'_>], partitions: &BTreeMap<Uuid, i32>) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> =
        members.iter().map(|m| (m.id.to_string(), Assignment::new())).collect();
    for (topic, n) in partitions {
        let mut subscribers: Vec<&str> = members.iter().filter(|m| m.topics.contains(topic)).map(|m| m.id).collect();
        subscribers.sort();
        if subscribers.is_empty() {
            continue;
        }
        let (each, extra) = (*n as usize / subscribers.len(), *n as usize % subscribers.len());
        let mut next = 0i32;
        for (i, member) in subscribers.iter().enumerate() {
            let take = each + usize::from(i < extra);
            if take > 0 {
                let entry = result.get_mut(*member).expect("entry").entry(*topic).or_default();
                entry.extend(next..next + take as i32);
            }
            next += take as i32;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn member<'a>(id: &'a str, topics: &[Uuid], previous: Option<&'a Assignment>) -> AssignorMember<'a> {
        AssignorMember { id, topics: topics.iter().copied().collect(), previous }
    }

    fn every_partition_once(result: &BTreeMap<String, Assignment>, partitions: &BTreeMap<Uuid, i32>) {
        let mut seen = BTreeSet::new();
        for assignment in result.values() {
            for (t, ps) in assignment {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "{t} {p} assigned twice");
                }
            }
        }
        let all: BTreeSet<(Uuid, i32)> = partitions.iter().flat_map(|(t, n)| (0..*n).map(move |p| (*t, p))).collect();
        assert_eq!(seen, all);
    }

    #[test]
    fn uniform_splits_evenly_and_keeps_what_members_had() {
        let t = topic(1);
        let partitions = BTreeMap::from([(t, 7)]);
        let first = assign("uniform", &[member("a", &[t], None), member("b", &[t], None)], &partitions);
        every_partition_once(&first, &partitions);
        assert_eq!((count(&first["a"]), count(&first["b"])), (4, 3));
        let members =
            [member("a", &[t], Some(&first["a"])), member("b", &[t], Some(&first["b"])), member("c", &[t], None)];
        let second = assign("uniform", &members, &partitions);
        every_partition_once(&second, &partitions);
        let counts: Vec<usize> = second.values().map(count).collect();
        assert_eq!(counts.iter().max().unwrap() - counts.iter().min().unwrap(), 1);
        // Nobody loses a partition to somebody else except to make room for the newcomer.
        let moved = ["a", "b"].iter().map(|m| first[*m][&t].difference(&second[*m][&t]).count()).sum::<usize>();
        assert_eq!(moved, count(&second["c"]));
    }

    #[test]
    fn uniform_balances_a_large_group_and_keeps_it_when_a_member_joins() {
        let t = topic(1);
        let partitions = BTreeMap::from([(t, 5_000)]);
        let ids: Vec<String> = (0..2_000).map(|i| format!("m{i:04}")).collect();
        let first_members: Vec<AssignorMember<'_>> = ids[..1_999].iter().map(|id| member(id, &[t], None)).collect();
        let first = assign("uniform", &first_members, &partitions);
        every_partition_once(&first, &partitions);
        let counts: Vec<usize> = first.values().map(count).collect();
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);

        let mut members: Vec<AssignorMember<'_>> =
            ids[..1_999].iter().map(|id| member(id, &[t], Some(&first[id.as_str()]))).collect();
        members.push(member(&ids[1_999], &[t], None));
        let second = assign("uniform", &members, &partitions);
        every_partition_once(&second, &partitions);
        let counts: Vec<usize> = second.values().map(count).collect();
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
        let moved: usize = ids[..1_999].iter().map(|m| first[m][&t].difference(&second[m][&t]).count()).sum();
        assert_eq!(moved, count(&second[&ids[1_999]]), "only the newcomer's share moved");
    }

    #[test]
    fn uniform_respects_different_subscriptions() {
        let (t1, t2) = (topic(1), topic(2));
        let partitions = BTreeMap::from([(t1, 4), (t2, 2)]);
        let result = assign("uniform", &[member("a", &[t1, t2], None), member("b", &[t1], None)], &partitions);
        every_partition_once(&result, &partitions);
        assert!(!result["b"].contains_key(&t2));
        assert_eq!((count(&result["a"]), count(&result["b"])), (3, 3));
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let (t1, t2) = (topic(1), topic(2));
        let partitions = BTreeMap::from([(t1, 5), (t2, 5)]);
        let result = assign("range", &[member("b", &[t1, t2], None), member("a", &[t1, t2], None)], &partitions);
        every_partition_once(&result, &partitions);
        assert_eq!(result["a"][&t1], BTreeSet::from([0, 1, 2]));
        assert_eq!(result["b"][&t1], BTreeSet::from([3, 4]));
        assert_eq!(result["a"][&t2], result["a"][&t1]);
    }

    #[test]
    fn a_topic_nobody_subscribes_to_is_left_alone() {
        let (t1, t2) = (topic(1), topic(2));
        let partitions = BTreeMap::from([(t1, 2)]);
        let result = assign("uniform", &[member("a", &[t1], None), member("b", &[t2], None)], &partitions);
        assert_eq!(count(&result["a"]), 2);
        assert_eq!(count(&result["b"]), 0);
    }
}
