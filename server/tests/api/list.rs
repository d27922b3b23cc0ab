use std::collections::HashSet;

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::*;

async fn page(app: &TestApp, query: &str) -> Value {
    expect_status(app.get(&format!("/api/jobs?{query}")).await, 200).await
}

fn descriptions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["description"].as_str().unwrap().to_owned())
        .collect()
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn an_empty_list_has_no_items_and_no_cursor(pool: PgPool) {
    let app = spawn_app(pool).await;
    let p = page(&app, "").await;
    assert_eq!(p, json!({ "items": [], "next_cursor": null }));
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn jobs_come_newest_first_and_pages_cover_all_exactly_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    for i in 0..9 {
        app.add_job(&format!("job {i}")).await;
    }
    let first = page(&app, "limit=3").await;
    assert_eq!(descriptions(&first), vec!["job 8", "job 7", "job 6"]);
    let mut seen = descriptions(&first);
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(c) = cursor {
        let p = page(&app, &format!("limit=3&cursor={c}")).await;
        seen.extend(descriptions(&p));
        cursor = p["next_cursor"].as_str().map(str::to_owned);
        pages += 1;
    }
    // 9 jobs in pages of 3: an exact multiple ends with three pages and no empty fourth.
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..9).rev().map(|i| format!("job {i}")).collect();
    assert_eq!(seen, expected);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn jobs_added_while_paging_neither_repeat_nor_hide_older_ones(pool: PgPool) {
    let app = spawn_app(pool).await;
    for i in 0..6 {
        app.add_job(&format!("old {i}")).await;
    }
    let first = page(&app, "limit=2").await;
    let mut seen = descriptions(&first);
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        app.add_job("new while paging").await;
        let p = page(&app, &format!("limit=2&cursor={c}")).await;
        seen.extend(descriptions(&p));
        cursor = p["next_cursor"].as_str().map(str::to_owned);
    }
    let expected: Vec<String> = (0..6).rev().map(|i| format!("old {i}")).collect();
    assert_eq!(seen, expected);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn every_filter_selects_what_it_says(pool: PgPool) {
    let app = spawn_app(pool).await;
    let backup = app.add_job("Nightly BACKUP of vm-1").await;
    let failed = app.add_job("restore 50%_done").await;
    expect_status(
        app.end_job(&failed, json!({ "status": "failed" })).await,
        200,
    )
    .await;
    let correlated = expect_status(
        app.post(
            "/api/jobs?correlation_id=abc-1",
            &json!({ "description": "correlated" }),
        )
        .await,
        201,
    )
    .await;
    sqlx::query("update job set is_external = false where id = $1::uuid")
        .bind(id(&correlated))
        .execute(&app.pool)
        .await
        .unwrap();

    assert_eq!(
        descriptions(&page(&app, "status=failed").await),
        vec!["restore 50%_done"]
    );
    assert_eq!(
        descriptions(&page(&app, "status=failed,started").await).len(),
        3
    );
    assert_eq!(
        descriptions(&page(&app, "external=false").await),
        vec!["correlated"]
    );
    assert_eq!(descriptions(&page(&app, "external=true").await).len(), 2);
    assert_eq!(
        descriptions(&page(&app, "q=backup").await),
        vec!["Nightly BACKUP of vm-1"]
    );
    assert_eq!(
        descriptions(&page(&app, "q=50%25_").await),
        vec!["restore 50%_done"],
        "wildcards match themselves"
    );
    assert_eq!(descriptions(&page(&app, "q=5_%25").await).len(), 0);
    assert_eq!(
        descriptions(&page(&app, "correlation_id=abc-1").await),
        vec!["correlated"]
    );
    assert_eq!(
        descriptions(&page(&app, &format!("owner={ADMIN}")).await).len(),
        3
    );
    assert_eq!(
        descriptions(
            &page(
                &app,
                &format!("owner={}", backup["owner"].as_str().unwrap())
            )
            .await
        )
        .len(),
        3
    );
    assert_eq!(descriptions(&page(&app, "owner=nobody").await).len(), 0);

    let start = backup["start_time"].as_str().unwrap();
    let after = descriptions(&page(&app, &format!("started_after={}", urlencode(start))).await);
    assert_eq!(after.len(), 3, "started_after is inclusive");
    let before = descriptions(&page(&app, &format!("started_before={}", urlencode(start))).await);
    assert!(before.is_empty(), "started_before is exclusive: {before:?}");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn bad_list_parameters_are_refused_naming_them(pool: PgPool) {
    let app = spawn_app(pool).await;
    expect_problem(app.get("/api/jobs?limit=0").await, 400, "limit").await;
    expect_problem(app.get("/api/jobs?limit=501").await, 400, "limit").await;
    expect_problem(app.get("/api/jobs?limit=ten").await, 400, "limit").await;
    expect_problem(app.get("/api/jobs?status=running").await, 400, "status").await;
    expect_problem(app.get("/api/jobs?external=maybe").await, 400, "external").await;
    expect_problem(app.get("/api/jobs?cursor=garbage").await, 400, "cursor").await;
    expect_problem(
        app.get("/api/jobs?started_after=yesterday").await,
        400,
        "started_after",
    )
    .await;
    expect_problem(
        app.get("/api/jobs?correlation_id=has%20space").await,
        400,
        "correlation_id",
    )
    .await;
    // Unknown parameters are ignored.
    expect_status(app.get("/api/jobs?whatever=1").await, 200).await;
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn the_largest_page_is_served(pool: PgPool) {
    let app = spawn_app(pool).await;
    let ids: HashSet<String> = {
        let mut ids = HashSet::new();
        for i in 0..5 {
            ids.insert(id(&app.add_job(&format!("{i}")).await).to_owned());
        }
        ids
    };
    let p = page(&app, "limit=500").await;
    assert_eq!(p["items"].as_array().unwrap().len(), 5);
    assert!(p["next_cursor"].is_null());
    assert!(p["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| ids.contains(id(j))));
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn q_pages_match_the_database_for_common_and_rare_words(pool: PgPool) {
    // A common word is answered by walking the newest jobs, a rare one by the trigram index;
    // either way the pages are exactly the matching jobs, newest first.
    let app = spawn_app(pool).await;
    sqlx::query(
        "insert into job (id, description, status, is_external, owner, start_time, last_updated)
         select gen_random_uuid(),
                'job ' || g || case when g % 7 = 0 then ' with a Needle' else '' end
                            || case when g in (15000, 19000) then ' rare-word' else '' end,
                'started', true, (select id from app_user where username = 'admin'),
                now() - make_interval(secs => g), now()
           from generate_series(1, 20000) g",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let expected: Vec<String> = sqlx::query_scalar(
        "select description from job where description ilike '%needle%'
          order by start_time desc, id desc limit 120",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    while seen.len() < expected.len() {
        let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
        let p = page(&app, &format!("q=NEEDLE&limit=40{after}")).await;
        assert_eq!(descriptions(&p).len(), 40);
        seen.extend(descriptions(&p));
        cursor = p["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, expected);

    let rare = page(&app, "q=rare-word&limit=40").await;
    assert_eq!(
        descriptions(&rare),
        vec!["job 15000 rare-word", "job 19000 rare-word"]
    );
    assert!(rare["next_cursor"].is_null());
    let one = page(&app, "q=rare-word&limit=1").await;
    let next = one["next_cursor"].as_str().expect("a second page");
    let two = page(&app, &format!("q=rare-word&limit=1&cursor={next}")).await;
    assert_eq!(descriptions(&two), vec!["job 19000 rare-word"]);
}

#[sqlx::test(migrator = "stepwise::startup::MIGRATOR")]
async fn q_matches_exactly_what_ilike_matches_in_any_script(pool: PgPool) {
    let app = spawn_app(pool).await;
    for d in [
        "Ärzte-Backup",
        "ärzte-backup",
        "ÄRZTE export",
        "ΣΥΣΤΗΜΑ check",
        "σύστημα check",
        "plain ascii",
    ] {
        app.add_job(d).await;
    }
    for q in [
        "ärzte",
        "ÄRZTE",
        "BACKUP",
        "ΣΥΣΤΗΜΑ",
        "σύστημα",
        "Plain",
        "zz",
    ] {
        let mut found = descriptions(&page(&app, &format!("q={}&limit=100", urlencode(q))).await);
        found.sort();
        let mut expected: Vec<String> =
            sqlx::query_scalar("select description from job where description ilike $1")
                .bind(format!("%{q}%"))
                .fetch_all(&app.pool)
                .await
                .unwrap();
        expected.sort();
        assert_eq!(found, expected, "q={q}");
    }
    // Upper and lower case find the same jobs.
    assert_eq!(
        descriptions(&page(&app, "q=backup").await).len(),
        2,
        "Backup and backup"
    );
}
