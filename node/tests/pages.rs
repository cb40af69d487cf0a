//! The public pages over real nodes (issue 24): an event received over A–B–C shows the way it
//! came, with the names C knows.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_page_shows_the_relay_path() {
    let net = TestNet::new(3, 8).await;
    net.link(&[(0, 1), (1, 2)]).await;
    net.wait_gossip(1, 2).await;
    net.wait_gossip(2, 1).await;
    let key = add(net.node(0), "Travelling talk").await;
    assert!(wait_rev(net.node(2), &key, 0).await);
    let c = net.node(2);
    let url = format!(
        "http://{}/events/{}/{}",
        c.http_addr(),
        key.origin,
        discal_gateway::read::path_segment(&key.uid)
    );
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let at = page.find("class=\"path\">").expect("a path") + 13;
    let path: String = page[at..page[at..].find("</dd>").unwrap() + at]
        .split('>')
        .filter_map(|s| s.split('<').next())
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join("");
    // A is not C's peer: its key, shortened; B is, by the name C gave it; C is itself.
    let a = net.nodes[0].key.to_string();
    let short_a = format!("{}…{}", &a[..8], &a[a.len() - 4..]);
    assert_eq!(path, format!("{short_a} → n1 → DisCal"), "{page}");
    net.shutdown().await;
}

/// The home page shows the node's description, and its `language` for browsers that name none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_takes_description_and_language_from_the_settings() {
    let net = TestNet::new(1, 8).await;
    net.configure(0, &[], |c| {
        c.description = Some("Treffen freier Software in Berlin <3".into());
        c.language = "de".into();
    })
    .await;
    let base = format!("http://{}", net.node(0).http_addr());
    let client = discal_node::client::http_client().build().unwrap();
    let page = client
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Treffen freier Software in Berlin &lt;3"),
        "{page}"
    );
    assert!(
        page.contains("Suche"),
        "German for a browser that names no language"
    );
    let en = client
        .get(format!("{base}/"))
        .header("accept-language", "en-GB,en;q=0.8")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        en.contains("Search") && !en.contains("Suche"),
        "the browser's language wins"
    );
    net.shutdown().await;
}
