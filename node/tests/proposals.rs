//! Proposals over real nodes (issue 19, docs/protocol.md §12), on the line A–B–C (A and C not
//! connected): a change proposed at C reaches the origin A at its X-REVISE-URL and is applied
//! at once (C trusted) and the new revision reaches C over the mesh; from an untrusted node it
//! waits in A's queue until a person accepts it; a proposal on an older revision is held as a
//! conflict and resolved to base + 2 with the person's merge and A's own change; forged, replayed and misdirected
//! proposals are refused and counted.

mod common;

use common::*;
use discal_gateway::{Draft, ProposalReply, ProposalRequest, WriteOp};
use discal_protocol::proposal::{sign_proposal, Change, FieldChange, ProposalPayload, Signed};
use discal_protocol::{EventKey, NodeSecret};
use discal_store::SentProposal;

fn title(h: &discal_node::NodeHandle, key: &EventKey) -> String {
    held(h, key)
        .and_then(|e| e.content().master.summary.clone())
        .unwrap_or_default()
}

async fn propose(h: &discal_node::NodeHandle, key: &EventKey, patch: Draft) -> [u8; 16] {
    match h
        .proposal(ProposalRequest::Make {
            origin: key.origin,
            uid: key.uid.clone(),
            patch: Box::new(patch),
            cancel: false,
            account: "cleo".into(),
        })
        .await
        .unwrap()
    {
        ProposalReply::Made(id) => id,
        other => panic!("{other:?}"),
    }
}

fn sent(h: &discal_node::NodeHandle, id: [u8; 16]) -> SentProposal {
    h.store()
        .sent_proposals()
        .unwrap()
        .into_iter()
        .find(|p| p.id == id)
        .unwrap()
}

/// Waits until the proposer's outbox holds a final answer for `id`.
async fn wait_answered(h: &discal_node::NodeHandle, id: [u8; 16]) -> bool {
    h.wait_until(WAIT, |s| {
        s.sent_proposals()
            .unwrap()
            .iter()
            .any(|p| p.id == id && p.done)
    })
    .await
}

fn set_proposals(c: &mut discal_node::config::Config, trusted: Vec<String>, allow: bool) {
    c.proposals.trusted = trusted;
    c.proposals.allow_private_targets = allow;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_reach_the_origin_and_its_answer_comes_back_over_the_mesh() {
    let net = TestNet::new(3, 8).await;
    let c_key = net.nodes[2].key.to_string();
    net.configure(0, &[1], |c| set_proposals(c, vec![c_key.clone()], false))
        .await;
    net.configure(1, &[0, 2], |c| set_proposals(c, vec![], true))
        .await;
    net.configure(2, &[1], |c| set_proposals(c, vec![], true))
        .await;
    net.wait_gossip(1, 2).await;
    net.wait_gossip(2, 1).await;
    let (a, b, c) = (net.node(0), net.node(1), net.node(2));
    let key = add(a, "Install party").await;
    assert!(wait_rev(c, &key, 0).await);

    // Trusted C, on the current revision: applied at once; C learns the outcome and sees the
    // new revision arrive through B.
    let id = propose(
        c,
        &key,
        Draft {
            title: Some("Install party (room 2)".into()),
            ..Draft::default()
        },
    )
    .await;
    assert!(wait_answered(c, id).await, "{:?}", sent(c, id).last_error);
    let receipt = Signed::decode(&sent(c, id).receipt)
        .unwrap()
        .verify_receipt()
        .unwrap();
    assert_eq!(
        receipt.outcome,
        discal_protocol::proposal::Outcome::Accepted { revision: 1 }
    );
    assert!(wait_rev(c, &key, 1).await);
    assert_eq!(title(c, &key), "Install party (room 2)");
    assert_eq!(a.shared().metrics.proposals("accepted"), 1);

    // Untrusted B: waits in A's queue; a person accepts it; B's outbox learns it.
    let id = propose(
        b,
        &key,
        Draft {
            location: Some("Hackerspace, Room 2".into()),
            ..Draft::default()
        },
    )
    .await;
    assert!(
        a.wait_until(WAIT, |s| s.pending_proposals().unwrap().len() == 1)
            .await
    );
    assert_eq!(
        held(a, &key).unwrap().payload.revision,
        1,
        "not applied yet"
    );
    let decided = a
        .proposal(ProposalRequest::Decide {
            id,
            accept: true,
            reason: String::new(),
            merged: Vec::new(),
            by: "ana".into(),
        })
        .await
        .unwrap();
    assert_eq!(decided, ProposalReply::Decided);
    assert!(wait_rev(c, &key, 2).await);
    assert_eq!(
        held(c, &key).unwrap().content().master.location.as_deref(),
        Some("Hackerspace, Room 2")
    );
    assert!(wait_answered(b, id).await, "{:?}", sent(b, id).last_error);

    // A conflict: C proposes on revision 2 while it cannot reach A; A changes the event
    // (revision 3); once C's proposal arrives it is held, though C is trusted; accepted, it
    // becomes revision 4 = base + 2 with both changes.
    net.configure(2, &[1], |c| set_proposals(c, vec![], false))
        .await;
    let id = propose(
        c,
        &key,
        Draft {
            title: Some("Install party (room 3)".into()),
            ..Draft::default()
        },
    )
    .await;
    assert!(
        c.wait_until(WAIT, |s| s
            .sent_proposals()
            .unwrap()
            .iter()
            .any(|p| p.id == id && p.last_error.contains("loopback")))
            .await,
        "the private target is refused while not allowed"
    );
    a.write(WriteOp::Update {
        uid: key.uid.clone(),
        patch: Draft {
            description: Some("Bring a USB stick.".into()),
            ..Draft::default()
        },
    })
    .await
    .unwrap();
    net.configure(2, &[1], |c| set_proposals(c, vec![], true))
        .await;
    c.shared().outbox.notify_one();
    assert!(
        a.wait_until(WAIT, |s| s.pending_proposals().unwrap().len() == 1)
            .await
    );
    assert_eq!(a.shared().metrics.proposals("conflict"), 1);
    assert_eq!(held(a, &key).unwrap().payload.revision, 3);
    // The person merges by hand; a line that is not the property's own is refused, and the
    // proposal still waits.
    let decide = |merged: &str| ProposalRequest::Decide {
        id,
        accept: true,
        reason: String::new(),
        merged: vec![("SUMMARY".into(), merged.into())],
        by: "ana".into(),
    };
    let bad = a.proposal(decide("DESCRIPTION:sneaked in")).await;
    assert!(bad.is_err(), "{bad:?}");
    assert_eq!(a.store().pending_proposals().unwrap().len(), 1);
    a.proposal(decide("SUMMARY:Install party (room 3\\, merged)"))
        .await
        .unwrap();
    assert!(wait_rev(c, &key, 4).await);
    let m = held(c, &key).unwrap().content().master.clone();
    assert_eq!(m.summary.as_deref(), Some("Install party (room 3, merged)"));
    assert_eq!(m.description.as_deref(), Some("Bring a USB stick."));
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_misdirected_proposals_are_refused_and_counted() {
    let net = TestNet::new(1, 8).await;
    let a = net.node(0);
    let key = add(a, "Talk").await;
    let url = format!(
        "http://{}/events/{}/{}/revise",
        a.http_addr(),
        key.origin,
        discal_gateway::read::path_segment(&key.uid)
    );
    let proposer = NodeSecret::from_seed_array([77; 32]);
    let payload = |id: u8, title: &str| ProposalPayload {
        version: 1,
        id: [id; 16],
        proposer: proposer.public(),
        origin: key.origin,
        uid: key.uid.clone(),
        base_revision: 0,
        change: Change::Fields(vec![FieldChange {
            name: "SUMMARY".into(),
            base: vec!["SUMMARY:Talk".into()],
            proposed: vec![format!("SUMMARY:{title}")],
        }]),
        author: "Mallory".into(),
        proposed_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    let http = discal_node::client::http_client().build().unwrap();
    let post = |body: Vec<u8>| {
        http.post(&url)
            .header("content-type", "application/x-discal-proposal")
            .body(body)
            .send()
    };
    // A good one from an untrusted node: queued, and the same bytes again get the same receipt.
    let good = sign_proposal(&proposer, &payload(1, "Talk!"))
        .unwrap()
        .encode();
    let r1 = post(good.clone()).await.unwrap();
    assert_eq!(r1.status(), 200);
    let r1 = r1.bytes().await.unwrap();
    let r2 = post(good).await.unwrap().bytes().await.unwrap();
    assert_eq!(r1, r2, "a repeat is answered with the same receipt");
    assert_eq!(a.store().pending_proposals().unwrap().len(), 1);
    // Forged: a signature that is not the proposer's.
    let mut forged = sign_proposal(&proposer, &payload(2, "x")).unwrap();
    forged.signature[5] ^= 1;
    let r = post(forged.encode()).await.unwrap();
    assert_eq!(r.status(), 400);
    // Replayed: the first one's id with other content.
    let replay = sign_proposal(&proposer, &payload(1, "Other"))
        .unwrap()
        .encode();
    let r = post(replay).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("was used for another proposal"));
    // Another origin's event.
    let mut other = payload(3, "y");
    other.origin = NodeSecret::from_seed_array([78; 32]).public();
    let r = post(sign_proposal(&proposer, &other).unwrap().encode())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Not a proposal at all, one over the size a proposal can have, and the wrong media type.
    assert_eq!(post(vec![1, 2, 3]).await.unwrap().status(), 400);
    let huge = vec![0u8; discal_protocol::proposal::MAX_PROPOSAL_BYTES + 81];
    assert_eq!(post(huge).await.unwrap().status(), 413);
    let r = http.post(&url).body("title=x").send().await.unwrap();
    assert_eq!(r.status(), 415);
    let m = &a.shared().metrics;
    assert_eq!(
        (
            m.proposals("invalid"),
            m.proposals("replay"),
            m.proposals("origin"),
            m.proposals("decode"),
            m.proposals("repeat")
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(
        held(a, &key).unwrap().payload.revision,
        0,
        "nothing applied"
    );
    assert!(a
        .shared()
        .metrics
        .render(0)
        .contains("discal_proposals_total{outcome=\"replay\"} 1"));
    net.shutdown().await;
}

/// The outbox keeps a proposal through restarts of both sides: C makes it while A is down,
/// C restarts, A comes back (at the same address), and the proposal arrives and is applied once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_survives_restarts_and_is_applied_once() {
    let mut net = TestNet::new(2, 8).await;
    // A's address must outlive its restart: an OS-chosen port, kept in its config.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c_key = net.nodes[1].key.to_string();
    net.configure(0, &[], |c| {
        c.http = format!("127.0.0.1:{port}");
        c.public_url = Some(format!("http://127.0.0.1:{port}"));
        set_proposals(c, vec![c_key.clone()], false);
    })
    .await;
    net.stop(0).await;
    net.restart(0).await;
    net.configure(1, &[], |c| set_proposals(c, vec![], true))
        .await;
    let a = net.node(0);
    let key = add(a, "Repair café").await;
    // C holds the event as A published it (how it got there does not matter here).
    let ev = held(a, &key)
        .unwrap()
        .envelope
        .verify(i64::MAX / 2, &discal_protocol::Limits::default())
        .unwrap();
    net.node(1)
        .store()
        .apply(&ev, discal_store::Transit::local(), 0)
        .unwrap();
    net.stop(0).await;

    let id = propose(
        net.node(1),
        &key,
        Draft {
            title: Some("Repair café (garden)".into()),
            ..Draft::default()
        },
    )
    .await;
    let c = net.node(1);
    assert!(
        c.wait_until(WAIT, |s| s
            .sent_proposals()
            .unwrap()
            .iter()
            .any(|p| p.id == id && !p.last_error.is_empty()))
            .await,
        "A is down: the first try fails"
    );
    net.stop(1).await;
    net.restart(1).await;
    net.restart(0).await;
    assert!(
        wait_answered(net.node(1), id).await,
        "{:?}",
        sent(net.node(1), id).last_error
    );
    let a = net.node(0);
    assert_eq!(held(a, &key).unwrap().payload.revision, 1, "applied once");
    assert_eq!(title(a, &key), "Repair café (garden)");
    assert_eq!(a.shared().metrics.proposals("accepted"), 1);
    net.shutdown().await;
}

/// RSVPs (docs/protocol.md §12.6): 50 answers from people on three nodes (some changed, some
/// taken back) give the right counts in the origin's feed and at the far end of the line, with
/// at most one revision per interval, and no one's name in any event envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsvps_from_three_nodes_are_counted_at_the_origin_without_names() {
    use discal_protocol::proposal::RsvpAnswer::{Going, Maybe, NotGoing, Withdrawn};
    let net = TestNet::new(3, 8).await;
    net.configure(0, &[1], |c| c.proposals.rsvp_interval_secs = 1)
        .await;
    net.configure(1, &[0, 2], |c| set_proposals(c, vec![], true))
        .await;
    net.configure(2, &[1], |c| set_proposals(c, vec![], true))
        .await;
    net.wait_gossip(1, 2).await;
    net.wait_gossip(2, 1).await;
    let key = add(net.node(0), "Summer party").await;
    assert!(wait_rev(net.node(2), &key, 0).await);
    let started = std::time::Instant::now();
    let mut expected = std::collections::HashMap::new();
    for i in 0..50usize {
        let node = i % 3;
        let name = format!("guest-{node}-{i}");
        let answer = [Going, Maybe, NotGoing, Going][i % 4];
        let mut answers = vec![answer];
        // Some change their minds, some take their answer back.
        if i % 7 == 0 {
            answers.push(Maybe);
        }
        if i % 11 == 0 {
            answers.push(Withdrawn);
        }
        for a in &answers {
            let r = net
                .node(node)
                .proposal(ProposalRequest::Rsvp {
                    origin: key.origin,
                    uid: key.uid.clone(),
                    answer: *a,
                    account: name.clone(),
                    name: name.clone(),
                })
                .await
                .unwrap();
            // Answers on the origin are counted there; elsewhere they go out as proposals,
            // which must arrive in order for a change of mind to count.
            if let ProposalReply::Made(id) = r {
                assert!(wait_answered(net.node(node), id).await);
            }
        }
        expected.insert(name, *answers.last().unwrap());
    }
    let want = expected.values().fold((0, 0, 0), |(g, m, n), a| match a {
        Going => (g + 1, m, n),
        Maybe => (g, m + 1, n),
        NotGoing => (g, m, n + 1),
        Withdrawn => (g, m, n),
    });
    let value = discal_protocol::proposal::rsvp_value(want);
    // In iCalendar the value's semicolons are escaped.
    let line = format!("X-DISCAL-RSVP:{}", value.replace(';', "\\;"));
    let has_counts = |s: &discal_store::Store| {
        s.get(&key).unwrap().is_some_and(|e| {
            e.content().master.extra.iter().any(|p| {
                p.name == "X-DISCAL-RSVP"
                    && discal_protocol::proposal::rsvp_counts(&p.value) == want
            })
        })
    };
    let (a, c) = (net.node(0), net.node(2));
    assert!(
        a.wait_until(WAIT, has_counts).await,
        "counts at the origin: {value}; it says {:?} at revision {}; {} answers stored",
        held(a, &key).unwrap().content().master.extra,
        held(a, &key).unwrap().payload.revision,
        a.store().rsvps(&key.uid).unwrap().len()
    );
    assert!(
        c.wait_until(WAIT, has_counts).await,
        "counts at the far end"
    );
    let feed = reqwest::get(format!("http://{}/feed.ics", c.http_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(feed.contains(&line), "{feed}");
    // At most one revision per (1 s) interval, however many answers came.
    let revisions = held(a, &key).unwrap().payload.revision;
    let secs = started.elapsed().as_secs();
    assert!(
        u64::from(revisions) <= secs + 1,
        "{revisions} revisions in {secs} s"
    );
    // Names stay at the origin: no envelope carries one.
    for node in [a, net.node(1), c] {
        for e in node.store().changes_since(0, usize::MAX).unwrap() {
            let bytes = e.envelope.encode();
            assert!(
                !bytes.windows(6).any(|w| w == b"guest-"),
                "a name in an envelope"
            );
        }
    }
    assert_eq!(
        a.store().rsvps(&key.uid).unwrap().len() as u32,
        want.0 + want.1 + want.2
    );
    net.shutdown().await;
}
