//! A full re-read of the store against its indexes.

use discal_protocol::EventId;

use crate::index::Info;
use crate::open::build_index;
use crate::record::{decode_info, decode_record, seq_of, T_CHANGE};
use crate::{Integrity, Store, StoreError};

impl Store {
    /// Re-reads every record in full: each must decode, its info header must match what its
    /// payload says, no event may have two records, and the in-memory indexes must equal ones
    /// rebuilt from the records.
    pub fn check_integrity(&self) -> Result<Integrity, StoreError> {
        let mut report = Integrity::default();
        let (fresh, problems) = build_index(&self.db)?;
        report.problems.extend(problems);
        self.db.for_each_prefix(&[T_CHANGE], |k, v| {
            report.events += 1;
            let checked = seq_of(k).and_then(|seq| {
                let header = decode_info(v)?;
                let ev = decode_record(seq, v)?;
                let want = Info::of_payload(
                    &ev.payload,
                    EventId::of_payload(&ev.envelope.payload),
                    ev.transit.hop,
                    self.expand,
                );
                if want != header {
                    report.problems.push(format!(
                        "record {seq}: info header disagrees with its payload"
                    ));
                }
                Ok(())
            });
            if let Err(e) = checked {
                report.problems.push(format!("unreadable record: {e}"));
            }
            true
        })?;
        let live = self.read_index()?;
        report.index_entries =
            (live.by_start.len() + live.long.len() + live.geo.len() + live.len()) as u64;
        if live.infos() != fresh.infos()
            || live.by_start != fresh.by_start
            || live.long != fresh.long
        {
            report
                .problems
                .push("in-memory indexes differ from the records".into());
        }
        Ok(report)
    }
}
