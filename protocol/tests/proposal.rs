//! Proposals and receipts (docs/protocol.md §12): the test vector, signatures, the rules a
//! receiver checks, the origin's decision and how a change is applied.

use discal_protocol::proposal::{
    apply_fields, decide, sign_proposal, sign_receipt, Change, Decision, FieldChange, Outcome,
    ProposalError, Signed, MAX_CHANGE_LINES,
};
use discal_protocol::{vector, NodeSecret};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const NOW: i64 = 1_790_000_700_000;
const SKEW: i64 = 600_000;

/// The values in docs/protocol.md §12.5. If this fails, the code or the spec changed the wire
/// format: fix whichever is wrong, never just the constants.
#[test]
fn test_vector_matches_the_spec() {
    assert_eq!(
        vector::proposer().public().to_string(),
        "12D3KooWCd3eX8r5ihRvzK7P1yPq5aakaBJhG5GNj18YTztPhoCa"
    );
    let p = sign_proposal(&vector::proposer(), &vector::proposal()).unwrap();
    assert_eq!(p.payload.len(), 192);
    assert_eq!(
        hex(&p.payload),
        "01000102030405060708090a0b0c0d0e0f29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc93\
         22966dd703a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b817766563746f722d31\
         4064697363616c2e6578616d706c650100010753554d4d415259011953554d4d4152593a4f70656e20536f7572\
         6365204e69676874012253554d4d4152593a4f70656e20536f75726365204e696768742028726f6f6d20322903\
         416e61fd8027b38841030000"
    );
    assert_eq!(
        hex(&p.signature),
        "1620e3844f70d8a8191c8680e10c1f9c45b757ca7ccf263f8a6998e28e95beed\
         8889d4e16a20ebacf3b477cc592f59f122af3d30c00f48ae7016e9c6e6b6d20d"
    );
    let r = sign_receipt(&vector::secret(), &vector::receipt()).unwrap();
    assert_eq!(
        hex(&r.payload),
        "01000102030405060708090a0b0c0d0e0f03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc86641255\
         31b829acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd717766563746f722d314064\
         697363616c2e6578616d706c650002fd40fcb48841030000"
    );
    assert_eq!(
        hex(&r.signature),
        "e678e9a7027490e0e8d0b84401dc8390d92b0248caf3d85eb3f9e4234bd42c05\
         0145b6c953539145a630f0b0495b6a27884ecb1bde1a7e878d8869b45f254702"
    );
    // And they verify from their wire bytes.
    let back = Signed::decode(&p.encode()).unwrap();
    assert_eq!(back.verify_proposal(NOW, SKEW).unwrap(), vector::proposal());
    let back = Signed::decode(&r.encode()).unwrap();
    assert_eq!(back.verify_receipt().unwrap(), vector::receipt());
}

#[test]
fn forged_and_tampered_proposals_and_receipts_are_refused() {
    // Claims the vector's proposer, signed by another key.
    let other = NodeSecret::from_seed_array([9; 32]);
    let mut p = sign_proposal(&vector::proposer(), &vector::proposal()).unwrap();
    let forged = sign_proposal(&other, &vector::proposal());
    assert!(forged.is_err(), "a proposal is signed by its proposer only");
    p.signature[0] ^= 1;
    assert_eq!(
        p.verify_proposal(NOW, SKEW),
        Err(ProposalError::BadSignature)
    );
    let mut p = sign_proposal(&vector::proposer(), &vector::proposal()).unwrap();
    // The title's last byte: still decodes, no longer what was signed.
    let at = p.payload.len() - 20;
    p.payload[at] ^= 0x20;
    assert!(p.verify_proposal(NOW, SKEW).is_err());
    // A receipt signed by anyone but the origin is refused.
    let mut r = vector::receipt();
    assert!(sign_receipt(&other, &r).is_err());
    r.origin = other.public();
    let by_other = sign_receipt(&other, &r).unwrap();
    let mut moved = by_other.clone();
    let good = sign_receipt(&vector::secret(), &vector::receipt()).unwrap();
    moved.payload = good.payload;
    assert_eq!(moved.verify_receipt(), Err(ProposalError::BadSignature));
    // Truncated wire bytes at every length.
    let bytes = sign_proposal(&vector::proposer(), &vector::proposal())
        .unwrap()
        .encode();
    for n in 0..bytes.len() {
        assert!(
            Signed::decode(&bytes[..n])
                .and_then(|s| s.verify_proposal(NOW, SKEW))
                .is_err(),
            "{n}"
        );
    }
}

fn fields(f: Vec<FieldChange>) -> Change {
    Change::Fields(f)
}

fn field(name: &str, base: &[&str], proposed: &[&str]) -> FieldChange {
    FieldChange {
        name: name.into(),
        base: base.iter().map(|s| s.to_string()).collect(),
        proposed: proposed.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn the_rules_a_receiver_checks() {
    let signer = vector::proposer();
    let refused = |edit: &dyn Fn(&mut discal_protocol::proposal::ProposalPayload)| {
        let mut p = vector::proposal();
        edit(&mut p);
        sign_proposal(&signer, &p).unwrap_err().to_string()
    };
    assert!(refused(&|p| p.origin = p.proposer).contains("its own events"));
    assert!(refused(&|p| p.id = [0; 16]).contains("zeros"));
    assert!(refused(&|p| p.uid = " bad ".into()).contains("UID"));
    assert!(refused(&|p| p.author = "Ana\nBcc: x".into()).contains("author"));
    assert!(refused(&|p| p.change = fields(vec![])).contains("at least one"));
    assert!(
        refused(&|p| p.change = fields(vec![field("X-HOP", &[], &["X-HOP:0"])]))
            .contains("cannot be proposed")
    );
    assert!(
        refused(&|p| p.change = fields(vec![field("UID", &[], &["UID:x"])]))
            .contains("cannot be proposed")
    );
    assert!(refused(&|p| {
        p.change = fields(vec![field("SUMMARY", &[], &["DESCRIPTION:sneaked in"])])
    })
    .contains("not one of its content lines"));
    assert!(refused(&|p| {
        p.change = fields(vec![field("SUMMARY", &[], &["SUMMARY:a\r\nX-HOP:0"])])
    })
    .contains("not one of its content lines"));
    assert!(refused(&|p| {
        p.change = fields(vec![
            field("SUMMARY", &[], &["SUMMARY:a"]),
            field("SUMMARY", &[], &["SUMMARY:b"]),
        ])
    })
    .contains("twice"));
    let many: Vec<String> = (0..=MAX_CHANGE_LINES)
        .map(|i| format!("EXDATE:2027010{}T000000Z", i % 10))
        .collect();
    assert!(refused(&|p| {
        p.change = Change::Fields(vec![FieldChange {
            name: "EXDATE".into(),
            base: Vec::new(),
            proposed: many.clone(),
        }])
    })
    .contains("line limit"));
    // A cancellation needs no fields; a proposal from the future is refused on receipt.
    let mut p = vector::proposal();
    p.change = Change::Cancel;
    let s = sign_proposal(&signer, &p).unwrap();
    assert!(s.verify_proposal(NOW, SKEW).is_ok());
    assert!(s
        .verify_proposal(p.proposed_at_ms - SKEW - 1, SKEW)
        .unwrap_err()
        .to_string()
        .contains("future"));
    // A rejection's reason is one line.
    let mut r = vector::receipt();
    r.outcome = Outcome::Rejected {
        reason: "no\nreason".into(),
    };
    let s = sign_receipt(&vector::secret(), &r).unwrap();
    assert!(s.verify_receipt().is_err());
}

#[test]
fn the_origin_applies_on_its_current_revision_and_holds_the_rest() {
    assert_eq!(decide(3, 3, true), Decision::Apply);
    assert_eq!(decide(3, 3, false), Decision::Queue);
    // The seed's rule: proposed on an older revision than the origin's current one.
    assert_eq!(decide(2, 3, true), Decision::Conflict);
    assert_eq!(decide(2, 3, false), Decision::Conflict);
    // A revision the origin has not reached.
    assert_eq!(decide(4, 3, true), Decision::Conflict);
}

#[test]
fn a_change_replaces_only_its_properties() {
    let master: Vec<String> = [
        "DTSTART;TZID=Europe/Berlin:20261203T183000",
        "DURATION:PT2H",
        "SUMMARY:Open Source Night",
        "CATEGORIES:linux",
        "X-UNKNOWN:kept",
    ]
    .map(String::from)
    .to_vec();
    let out = apply_fields(
        &master,
        &[
            field(
                "SUMMARY",
                &["SUMMARY:Open Source Night"],
                &["SUMMARY:Open Source Night (room 2)"],
            ),
            field("LOCATION", &[], &["LOCATION:Room 2"]),
            field("CATEGORIES", &["CATEGORIES:linux"], &[]),
        ],
    );
    assert_eq!(
        out,
        [
            "DTSTART;TZID=Europe/Berlin:20261203T183000",
            "DURATION:PT2H",
            "X-UNKNOWN:kept",
            "SUMMARY:Open Source Night (room 2)",
            "LOCATION:Room 2",
        ]
    );
}

/// The fuzz target's committed seed corpus is these values (the vector's proposal and receipt, a
/// cancellation, a truncated proposal); `DISCAL_WRITE_SEEDS=1` writes them anew.
#[test]
fn the_fuzz_seed_corpus_is_the_vector() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/proposal_decode");
    let p = sign_proposal(&vector::proposer(), &vector::proposal()).unwrap();
    let r = sign_receipt(&vector::secret(), &vector::receipt()).unwrap();
    let mut c = vector::proposal();
    c.change = Change::Cancel;
    let c = sign_proposal(&vector::proposer(), &c).unwrap();
    let bytes = p.encode();
    for (name, data) in [
        ("proposal", bytes.clone()),
        ("receipt", r.encode()),
        ("cancel", c.encode()),
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
    ] {
        if std::env::var_os("DISCAL_WRITE_SEEDS").is_some() {
            std::fs::write(dir.join(name), &data).unwrap();
        }
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), data, "{name}");
    }
}

#[test]
fn changes_are_found_and_applied_on_whole_documents() {
    use discal_protocol::proposal::{apply_to_calendar, diff_fields, master_lines};
    let base = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:w@t\r\n\
        DTSTART;TZID=Europe/Berlin:20270316T190000\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Stamm\r\n tisch\r\n\
        END:VEVENT\r\nBEGIN:VEVENT\r\nUID:w@t\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270323T190000\r\n\
        DTSTART;TZID=Europe/Berlin:20270323T200000\r\nSUMMARY:moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let m = master_lines(base);
    assert_eq!(m[3], "SUMMARY:Stammtisch", "unfolded");
    let mut proposed = m.clone();
    proposed[3] = "SUMMARY:Stammtisch (new room)".into();
    proposed.push("LOCATION:Room 2".into());
    let fields = diff_fields(&m, &proposed);
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["SUMMARY", "LOCATION"]);
    let out = apply_to_calendar(base, &fields);
    let back = master_lines(&out);
    assert!(
        back.contains(&"SUMMARY:Stammtisch (new room)".to_string()),
        "{out}"
    );
    assert!(
        back.contains(&"LOCATION:Room 2".to_string())
            && back.contains(&"RRULE:FREQ=WEEKLY".to_string())
    );
    assert!(
        out.contains("SUMMARY:moved\r\n"),
        "the override is kept: {out}"
    );
    let key = NodeSecret::from_seed_array([4; 32]).public();
    let parsed = discal_protocol::ics::parse_calendar(&out, &key, &Default::default()).unwrap();
    assert_eq!(parsed.events[0].content.overrides.len(), 1);
}
