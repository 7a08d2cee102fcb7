//! Exact translation of a consumer group's source offsets to target offsets.
//!
//! The mirror copies a partition's records in order, so between two points where the target
//! offset minus the source offset changes, one maps onto the other by a constant shift. Such a
//! change happens at a gap in the source (a transaction marker, an aborted or compacted-away
//! record), at a mirror restart (records copied again) or where the target holds other records.
//! The mirror records a point at every change (the start of each run of consecutive records)
//! and at the end of what it has copied, so any committed offset inside a known run translates
//! exactly, however far from the head, unlike MirrorMaker 2's sparse syncs (KAFKA-14666).
//!
//! A point `(upstream, downstream)` says: a reader whose next source offset is `upstream`
//! resumes at target offset `downstream`. For an offset `u` after the point `k` and before the
//! point `n`, the answer is `min(k.down + (u - k.up), n.down)`: exact inside the run that
//! starts at `k`, and `n.down` when `u` falls in a source gap (whose records do not exist) or
//! where a restart re-copied. An offset past the last point is not known yet.

use std::collections::BTreeMap;

/// One source partition's points, upstream offset to downstream offset.
#[derive(Debug, Default, Clone)]
pub struct OffsetMap {
    points: BTreeMap<i64, i64>,
}

impl OffsetMap {
    /// Adds a point. Points past it came from an earlier run that this one copies again, so
    /// they go; a point that only extends the run before it replaces the previous end.
    pub fn record(&mut self, upstream: i64, downstream: i64) {
        self.points.split_off(&upstream);
        let mut last_two = self.points.iter().rev().take(2);
        if let (Some((&end_up, &end_down)), Some((&start_up, &start_down))) = (last_two.next(), last_two.next()) {
            let same_run = end_down - start_down == end_up - start_up;
            let extends = downstream - end_down == upstream - end_up;
            if same_run && extends {
                self.points.remove(&end_up);
            }
        }
        self.points.insert(upstream, downstream);
    }

    /// Where a reader whose next source offset is `upstream` resumes on the target; `None`
    /// when that offset is before the first point or past the last.
    pub fn translate(&self, upstream: i64) -> Option<i64> {
        let (&at_up, &at_down) = self.points.range(..=upstream).next_back()?;
        if at_up == upstream {
            return Some(at_down);
        }
        let (_, &next_down) = self.points.range(upstream + 1..).next()?;
        Some((at_down + (upstream - at_up)).min(next_down))
    }

    /// The points, oldest upstream offset first.
    #[cfg(test)]
    fn points(&self) -> Vec<(i64, i64)> {
        self.points.iter().map(|(u, d)| (*u, *d)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_consecutive_records_translates_exactly_and_stays_two_points() {
        let mut map = OffsetMap::default();
        map.record(100, 0);
        for end in 101..200 {
            map.record(end, end - 100);
        }
        assert_eq!(map.points(), vec![(100, 0), (199, 99)]);
        assert_eq!(map.translate(150), Some(50));
        assert_eq!(map.translate(199), Some(99));
        assert_eq!(map.translate(99), None, "before anything copied");
        assert_eq!(map.translate(200), None, "past what is copied");
    }

    #[test]
    fn an_offset_in_a_source_gap_resumes_at_the_next_record() {
        // Records 0..=9 copied to 0..=9; source offsets 10 and 11 are transaction markers;
        // record 12 went to target 10.
        let mut map = OffsetMap::default();
        map.record(0, 0);
        map.record(12, 10);
        map.record(20, 18);
        assert_eq!(map.translate(9), Some(9));
        assert_eq!(map.translate(10), Some(10));
        assert_eq!(map.translate(11), Some(10));
        assert_eq!(map.translate(12), Some(10));
        assert_eq!(map.translate(15), Some(13));
    }

    #[test]
    fn a_restart_replaces_what_it_copies_again() {
        // A first run copied 0..=59 to 0..=59 and recorded its end at 60; the mirror had
        // committed 40 when killed, so the next run copies 40.. again, from target 60.
        let mut map = OffsetMap::default();
        map.record(0, 0);
        map.record(60, 60);
        map.record(40, 60);
        assert_eq!(map.points(), vec![(0, 0), (40, 60)]);
        // Below the restart the first copies are exact; from it on, the second copies.
        assert_eq!(map.translate(30), Some(30));
        assert_eq!(map.translate(39), Some(39));
        assert_eq!(map.translate(40), Some(60));
        map.record(70, 90);
        assert_eq!(map.translate(55), Some(75));
    }

    #[test]
    fn no_translation_skips_a_record() {
        // Any run layout: a translated offset never lies past the target copy of the first
        // source record at or after the committed offset.
        let source_records: Vec<i64> = (0..200).filter(|o| o % 7 != 3 && o % 11 != 5).collect();
        let mut map = OffsetMap::default();
        let mut copies: Vec<(i64, i64)> = Vec::new();
        let mut target = 0;
        let mut last: Option<(i64, i64)> = None;
        // Two runs: the second starts again from source record 120.
        let second_start = source_records.iter().position(|&o| o == 120).unwrap();
        for (run, records) in [&source_records[..130], &source_records[second_start..]].into_iter().enumerate() {
            if run == 1 {
                last = None;
            }
            for &source in records {
                if last.is_none_or(|(s, t)| s + 1 != source || t + 1 != target) {
                    map.record(source, target);
                }
                copies.push((source, target));
                last = Some((source, target));
                target += 1;
            }
            let (s, t) = last.unwrap();
            map.record(s + 1, t + 1);
        }
        for committed in 0..=source_records.last().copied().unwrap() {
            let resume =
                map.translate(committed).unwrap_or_else(|| panic!("{committed} not translated: {:?}", map.points()));
            // Everything from `committed` on must be readable from `resume` on.
            for &wanted in source_records.iter().filter(|&&o| o >= committed) {
                assert!(
                    copies.iter().any(|&(s, t)| s == wanted && t >= resume),
                    "committed {committed} resumes at {resume} and skips source {wanted}"
                );
            }
        }
    }
}
