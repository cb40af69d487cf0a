//! Rewriting schema 1 and 2 stores in today's layout.

use bincode::{Decode, Encode};
use discal_protocol::codec;
use discal_protocol::envelope::SignedPayload;
use discal_protocol::Envelope;

use crate::backend::{Backend, Batch};
use crate::open::{META_MIGRATING, META_SCHEMA};
use crate::record::{change_key, encode_record, seq_of, MAX_RECORD_BYTES, T_CHANGE};
use crate::{StoreError, Transit, SCHEMA_VERSION};

/// Schema 1, whose record headers lacked `issued_at_ms` and `hop`.
pub(crate) mod v1 {
    use bincode::{Decode, Encode};
    use discal_protocol::EventId;

    use crate::index::Span;

    #[derive(Encode, Decode)]
    pub(crate) struct Info {
        pub(crate) origin: [u8; 32],
        pub(crate) uid: String,
        pub(crate) revision: u32,
        pub(crate) cancelled: bool,
        pub(crate) id: EventId,
        pub(crate) span: Span,
        pub(crate) tags: Vec<String>,
        pub(crate) geo: Option<(i32, i32)>,
        pub(crate) instances: Option<Vec<(i64, i64)>>,
        pub(crate) zone_free: bool,
    }

    impl Info {
        /// The schema 2 header: these fields plus the two schema 1 lacked.
        pub(crate) fn upgrade(self, issued_at_ms: i64, hop: u8) -> crate::index::Info {
            crate::index::Info {
                origin: self.origin,
                uid: self.uid,
                revision: self.revision,
                cancelled: self.cancelled,
                id: self.id,
                span: self.span,
                tags: self.tags,
                geo: self.geo,
                instances: self.instances,
                zone_free: self.zone_free,
                issued_at_ms,
                hop,
            }
        }

        /// The schema 1 header of a schema 2 one (tests write old stores with it).
        #[cfg(test)]
        pub(crate) fn downgrade(i: crate::index::Info) -> Self {
            Self {
                origin: i.origin,
                uid: i.uid,
                revision: i.revision,
                cancelled: i.cancelled,
                id: i.id,
                span: i.span,
                tags: i.tags,
                geo: i.geo,
                instances: i.instances,
                zone_free: i.zone_free,
            }
        }
    }

    pub(crate) type Record = super::PlainRecord<Info>;
}

/// Schema 2: today's header, the envelope uncompressed.
pub(crate) mod v2 {
    pub(crate) type Record = super::PlainRecord<crate::index::Info>;
}

/// A record of schema 1 or 2 (they differ in the header): the envelope uncompressed.
#[derive(Encode, Decode)]
pub(crate) struct PlainRecord<I> {
    pub(crate) info: I,
    pub(crate) envelope: Envelope,
    pub(crate) transit: Transit,
    pub(crate) received_at_ms: i64,
}

/// Rewrites the records of a schema 1 or 2 store in today's layout (schema 1 headers lack
/// `issued_at_ms` and `hop`; schema 2 envelopes are uncompressed). Each chunk is one atomic
/// batch together with the progress marker, so a migration cut short by a crash resumes where
/// it stopped instead of reading rewritten records as old ones.
pub(crate) fn migrate(db: &Backend, from: u32) -> Result<(), StoreError> {
    const CHUNK: usize = 1000;
    let mut next = match db.get(META_MIGRATING)? {
        Some(v) => v
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("migration marker".into()))?,
        None => 1,
    };
    tracing::info!(
        from_seq = next,
        "migrating the store from schema {from} to {SCHEMA_VERSION}"
    );
    let mut moved = 0u64;
    loop {
        let chunk = db.range(&change_key(next), &[T_CHANGE + 1], CHUNK)?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        next = seq_of(last)?.saturating_add(1);
        let mut b = Batch::default();
        for (k, v) in chunk {
            let (info, envelope, transit, received_at_ms) = if from == 1 {
                let old: v1::Record = codec::decode("schema 1 record", &v, MAX_RECORD_BYTES)?;
                let payload: SignedPayload =
                    codec::decode("stored payload", &old.envelope.payload, usize::MAX)?;
                let info = old.info.upgrade(payload.issued_at_ms, old.transit.hop);
                (info, old.envelope, old.transit, old.received_at_ms)
            } else {
                let old: v2::Record = codec::decode("schema 2 record", &v, MAX_RECORD_BYTES)?;
                (old.info, old.envelope, old.transit, old.received_at_ms)
            };
            b.insert(k, encode_record(&info, &envelope, &transit, received_at_ms));
            moved += 1;
        }
        b.insert(META_MIGRATING.to_vec(), next.to_be_bytes().to_vec());
        db.apply(b)?;
    }
    let mut b = Batch::default();
    b.insert(META_SCHEMA.to_vec(), SCHEMA_VERSION.to_be_bytes().to_vec());
    b.remove(META_MIGRATING.to_vec());
    db.apply(b)?;
    db.flush()?;
    tracing::info!(records = moved, "store migrated to schema {SCHEMA_VERSION}");
    Ok(())
}
