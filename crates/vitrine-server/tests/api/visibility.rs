//! The catalog agrees with PRODUCT.md for every caller and every visibility: lists, search,
//! counts, pages and reads show exactly what the caller's audience admits, and a hidden
//! offering is answered byte for byte like a missing one.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;
use vitrine_server::ServerConfig;
use vitrine_store_testing::TestDatabase;

use crate::support::{Client, TestApp, TestUser, each_backend, names};
use crate::world::{ROLES, Role, World};

/// Walks every page of `path` (which has a query string) with `limit`, checking `total` on
/// each page, and returns all names in order.
async fn all_pages(client: &Client, path: &str, limit: u32) -> Result<(Vec<String>, u64), String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let response = client.get(&url).await;
        if response.status != 200 {
            return Err(format!("{url}: status {}", response.status));
        }
        let page = response.json();
        let page_total = page["total"].as_u64().ok_or("total")?;
        if *total.get_or_insert(page_total) != page_total {
            return Err(format!("{url}: total changed between pages"));
        }
        let items = names(&page);
        if items.len() > limit as usize {
            return Err(format!("{url}: page longer than the limit"));
        }
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        if seen.len() > 1000 {
            return Err("pagination does not end".into());
        }
    }
    Ok((seen, total.unwrap_or(0)))
}

/// Checks everything a caller can learn about `offerings` (sorted names) matches `visible`
/// (sorted). `scope` narrows lists to the offerings under test (`category=…`).
async fn check_caller(
    client: &Client,
    scope: &str,
    offerings: &[String],
    visible: &[String],
) -> Result<(), String> {
    let list = client.get(&format!("/api/v1/catalog?{scope}")).await;
    if list.status != 200 {
        return Err(format!("list: status {}", list.status));
    }
    let page = list.json();
    if names(&page) != visible || page["total"] != json!(visible.len()) {
        return Err(format!("list: expected {visible:?}, got {page}"));
    }
    for query in ["q=widget", "q=GADGET", "q=wid%20serv"] {
        let page = client
            .get(&format!("/api/v1/catalog?{scope}&{query}"))
            .await
            .json();
        if names(&page) != visible || page["total"] != json!(visible.len()) {
            return Err(format!("search {query}: expected {visible:?}, got {page}"));
        }
    }
    let none = client
        .get(&format!("/api/v1/catalog?{scope}&q=zzzz"))
        .await
        .json();
    if none["total"] != 0 || !names(&none).is_empty() {
        return Err(format!("search without match found {none}"));
    }
    for limit in [1, 2] {
        let (paged, total) = all_pages(client, &format!("/api/v1/catalog?{scope}"), limit).await?;
        if paged != visible || total != visible.len() as u64 {
            return Err(format!(
                "pages of {limit}: expected {visible:?}, got {paged:?} (total {total})"
            ));
        }
    }
    let missing = client.get("/api/v1/catalog/no-such-offering").await;
    for name in offerings {
        let detail = client.get(&format!("/api/v1/catalog/{name}")).await;
        let should_see = visible.contains(name);
        match (should_see, detail.status) {
            (true, 200) => {
                let body = detail.json();
                if body["name"] != json!(name) || body.get("allowlist").is_some() {
                    return Err(format!("detail of {name}: {body}"));
                }
            }
            (false, 404) => {
                if detail.body != missing.body
                    || detail.header("content-type") != missing.header("content-type")
                {
                    return Err(format!(
                        "hidden {name} answered differently from a missing name: {:?} vs {:?}",
                        String::from_utf8_lossy(&detail.body),
                        String::from_utf8_lossy(&missing.body)
                    ));
                }
            }
            (_, status) => return Err(format!("detail of {name}: status {status}")),
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_caller_sees_what_product_md_says() {
    each_backend(|app| async move {
        let world = World::build(app).await;
        let all = ["lim-svc", "priv-svc", "pub-svc"];
        let offerings: Vec<String> = all.iter().map(|s| s.to_string()).collect();
        for role in ROLES {
            let visible: &[&str] = match role {
                Role::Anonymous | Role::OtherCustomer | Role::OtherProviderMember => &["pub-svc"],
                Role::Customer => &["lim-svc", "pub-svc"],
                Role::ProviderMember | Role::ProviderOwner | Role::Validator | Role::Admin => &all,
            };
            let visible: Vec<String> = visible.iter().map(|s| s.to_string()).collect();
            check_caller(
                &world.client(role),
                "category=widgets",
                &offerings,
                &visible,
            )
            .await
            .unwrap_or_else(|e| panic!("{role:?} on {}: {e}", world.app.backend));
            // Filters narrow within the audience, never beyond it.
            let tagged = world
                .client(role)
                .get("/api/v1/catalog?tag=WIDGET")
                .await
                .json();
            assert_eq!(names(&tagged), visible, "{role:?} tag filter");
            let other = world
                .client(role)
                .get("/api/v1/catalog?tag=nope")
                .await
                .json();
            assert_eq!(other["total"], 0, "{role:?}");
        }
        // Removing the customer's account from the allowlist hides the offering at once.
        world
            .member
            .client
            .delete(&format!(
                "/api/v1/offerings/lim-svc/allowlist/{}",
                world.customer_account
            ))
            .await
            .expect_status(200);
        world
            .customer
            .client
            .get("/api/v1/catalog/lim-svc")
            .await
            .expect_status(404);
        let page = world.customer.client.get("/api/v1/catalog").await.json();
        assert_eq!(names(&page), ["pub-svc"]);
    })
    .await;
}

/// One random marketplace: which of 4 accounts each of 3 users belongs to, and for each
/// offering a visibility (0 private, 1 limited, 2 public) and which accounts it allowlists.
#[derive(Clone, Debug)]
struct Case {
    memberships: Vec<[bool; 4]>,
    offerings: Vec<(u8, [bool; 4])>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(any::<[bool; 4]>(), 3),
        proptest::collection::vec((0u8..3, any::<[bool; 4]>()), 1..5),
    )
        .prop_map(|(memberships, offerings)| Case {
            memberships,
            offerings,
        })
}

struct Marketplace {
    app: TestApp,
    provider: String,
    provider_member: TestUser,
    holder: TestUser,
}

static CASE: AtomicUsize = AtomicUsize::new(0);

async fn run_case(m: &Marketplace, case: &Case) -> Result<(), String> {
    let n = CASE.fetch_add(1, Ordering::SeqCst);
    let app = &m.app;
    let mut accounts = Vec::new();
    for j in 0..4 {
        accounts.push(
            app.account(&format!("Case {n} account {j}"), &m.holder)
                .await,
        );
    }
    let mut users = Vec::new();
    for (i, member_of) in case.memberships.iter().enumerate() {
        let user = app.user(&format!("u{i}-case{n}@c.test")).await;
        for (j, yes) in member_of.iter().enumerate() {
            if *yes {
                app.add_member(&accounts[j], &user, "member").await;
            }
        }
        users.push(user);
    }
    let category = format!("case-{n:04}");
    let mut offerings = Vec::new();
    for (k, (visibility, allowlisted)) in case.offerings.iter().enumerate() {
        let name = format!("c{n}-o{k}");
        let allowlist: Vec<&str> = accounts
            .iter()
            .zip(allowlisted)
            .filter(|(_, yes)| **yes)
            .map(|(a, _)| a.as_str())
            .collect();
        let visibility = ["private", "limited", "public"][*visibility as usize];
        app.offering(
            &m.provider_member.client,
            &m.provider,
            &name,
            visibility,
            &allowlist,
            json!({"category": category}),
        )
        .await;
        offerings.push(name);
    }
    offerings.sort();
    let scope = format!("category={category}");
    // The rule, written from PRODUCT.md independently of the domain's implementation.
    let sees = |user_accounts: &[bool; 4], k: usize| {
        let (visibility, allowlisted) = case.offerings[k];
        visibility == 2 || (visibility == 1 && (0..4).any(|j| user_accounts[j] && allowlisted[j]))
    };
    let visible_to = |user_accounts: Option<&[bool; 4]>| -> Vec<String> {
        let mut names: Vec<String> = (0..case.offerings.len())
            .filter(|&k| {
                user_accounts.is_some_and(|a| sees(a, k))
                    || (user_accounts.is_none() && case.offerings[k].0 == 2)
            })
            .map(|k| format!("c{n}-o{k}"))
            .collect();
        names.sort();
        names
    };
    check_caller(&app.anonymous(), &scope, &offerings, &visible_to(None))
        .await
        .map_err(|e| format!("anonymous: {e}"))?;
    for (i, user) in users.iter().enumerate() {
        check_caller(
            &user.client,
            &scope,
            &offerings,
            &visible_to(Some(&case.memberships[i])),
        )
        .await
        .map_err(|e| format!("user {i}: {e}"))?;
    }
    for (who, client) in [
        ("provider member", &m.provider_member.client),
        ("admin", &app.admin),
    ] {
        check_caller(client, &scope, &offerings, &offerings)
            .await
            .map_err(|e| format!("{who}: {e}"))?;
    }
    Ok(())
}

#[test]
fn random_allowlists_and_memberships() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let databases = runtime.block_on(TestDatabase::all());
    for db in databases {
        let market = runtime.block_on(async {
            let app = TestApp::start(db, ServerConfig::default()).await;
            let owner = app.user("owner@prop.test").await;
            let provider = app.provider("Prop provider", &owner).await;
            let provider_member = app.user("member@prop.test").await;
            app.add_member(&provider, &provider_member, "member").await;
            let holder = app.user("holder@prop.test").await;
            Marketplace {
                app,
                provider,
                provider_member,
                holder,
            }
        });
        eprintln!("running on {}", market.app.backend);
        let mut runner = TestRunner::new(Config {
            cases: 12,
            max_shrink_iters: 32,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&case_strategy(), |case| {
            runtime
                .block_on(run_case(&market, &case))
                .map_err(TestCaseError::fail)
        });
        if let Err(error) = result {
            panic!("on {}: {error}", market.app.backend);
        }
    }
}
