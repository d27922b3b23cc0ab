//! The jobs list: filters kept in the URL, keyset pages, live updates, expandable step trees.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use uuid::Uuid;

use super::format;
use super::live::use_live;
use super::tree::{focus_sibling, StepTree};
use super::ErrorNote;
use crate::api::list_jobs;
use crate::domain::{Job, JobFilter, Status};

const PAGE_SIZE: i64 = 50;

/// The URL's query, as a filter and a page position.
fn filter_from_query(q: &leptos_router::params::ParamsMap) -> JobFilter {
    let text = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let time = |k: &str| {
        text(k).and_then(|v| {
            chrono::NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M")
                .ok()
                .and_then(|n| n.and_local_timezone(chrono::Local).single())
                .map(|t| t.with_timezone(&chrono::Utc))
        })
    };
    JobFilter {
        status: text("status")
            .map(|s| s.split(',').filter_map(Status::parse).collect())
            .unwrap_or_default(),
        external: match text("external").as_deref() {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        },
        q: text("q"),
        q_match_case: false,
        correlation_id: text("correlation_id"),
        correlation_id_not: None,
        owner: text("owner"),
        started_after: time("started_after"),
        started_before: time("started_before"),
    }
}

/// Does a job (new or changed, from the live stream) belong in this filtered view?
fn matches(f: &JobFilter, job: &Job) -> bool {
    (f.status.is_empty() || f.status.contains(&job.status))
        && f.external.is_none_or(|x| x == job.is_external)
        && f.q
            .as_ref()
            .is_none_or(|q| job.description.to_lowercase().contains(&q.to_lowercase()))
        && f.correlation_id
            .as_ref()
            .is_none_or(|c| job.correlation_id.as_ref() == Some(c))
        && f.owner
            .as_ref()
            .is_none_or(|o| *o == job.owner_name || *o == job.owner.to_string())
        && f.started_after.is_none_or(|t| job.start_time >= t)
        && f.started_before.is_none_or(|t| job.start_time < t)
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let live = use_live();

    // Change one query parameter (empty removes it) and go back to the first page.
    let set_param = {
        let navigate = navigate.clone();
        move |key: &'static str, value: String| {
            let current = query.get_untracked();
            let mut out = form_urlencoded::Serializer::new(String::new());
            for k in [
                "external",
                "status",
                "q",
                "correlation_id",
                "owner",
                "started_after",
                "started_before",
            ] {
                let v = if k == key {
                    Some(value.clone())
                } else {
                    current.get(k)
                };
                if let Some(v) = v.filter(|v| !v.is_empty()) {
                    out.append_pair(k, &v);
                }
            }
            let qs = out.finish();
            let href = if qs.is_empty() {
                "/".to_owned()
            } else {
                format!("/?{qs}")
            };
            navigate(
                &href,
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        }
    };

    // A step's progress or end moves its job's progress, which only the job's own changes send as
    // job events: while a running job on the page has such changes, the page is read again, at most
    // once a second (the rows change in place).
    let reread = RwSignal::new(0u32);
    let reread_due = StoredValue::new(false);
    let page = LocalResource::new(move || {
        let q = query.get();
        let _ = live.resyncs.get();
        let _ = reread.get();
        let filter = filter_from_query(&q);
        let cursor = q.get("cursor");
        async move { list_jobs(filter, cursor, Some(PAGE_SIZE)).await }
    });
    // Each job in a signal of its own, its row keyed by id alone: a live change redraws the row in
    // place, so it keeps the keyboard focus and its open tree.
    let jobs = RwSignal::new(Vec::<ArcRwSignal<Job>>::new());
    let next_cursor = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<crate::api::AppError>);
    let loaded = RwSignal::new(false);
    // Step events for expanded jobs bump their counters, so their trees reload.
    let tree_refresh = RwSignal::new(std::collections::HashMap::<Uuid, u32>::new());

    Effect::new(move |_| {
        if let Some(result) = page.get() {
            match result {
                Ok(p) => {
                    // On the first page, a job that arrived live while the page was being read is
                    // newer than anything the page knew of: it stays (see `merge`).
                    let q = query.get_untracked();
                    let filter = filter_from_query(&q);
                    let first_page = q.get("cursor").is_none();
                    let arrived = |job: &Job| first_page && matches(&filter, job);
                    jobs.update(|list| {
                        merge(list, p.items, arrived);
                        list.truncate(PAGE_SIZE as usize);
                    });
                    next_cursor.set(p.next_cursor);
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
            loaded.set(true);
        }
    });

    Effect::new(move |_| {
        let Some(event) = live.last.get() else { return };
        let q = query.get_untracked();
        let filter = filter_from_query(&q);
        let first_page = q.get("cursor").is_none();
        match event.kind.as_str() {
            "job.created" | "job.updated" => {
                let Ok(job) = serde_json::from_value::<Job>(event.data.clone()) else {
                    return;
                };
                let shown = jobs.with_untracked(|list| {
                    list.iter()
                        .find(|j| j.with_untracked(|j| j.id == job.id))
                        .cloned()
                });
                if let Some(row) = shown {
                    // The event's job is the job as read then, its progress included.
                    row.set(job);
                } else if event.kind == "job.created" && first_page && matches(&filter, &job) {
                    jobs.update(|list| {
                        list.insert(0, ArcRwSignal::new(job));
                        list.truncate(PAGE_SIZE as usize);
                    });
                }
            }
            "job.purged" => {
                jobs.update(|list| list.retain(|j| j.with_untracked(|j| j.id != event.job_id)))
            }
            _ => {
                let running_here = jobs.with_untracked(|list| {
                    list.iter().any(|j| {
                        j.with_untracked(|j| j.id == event.job_id && j.status == Status::Started)
                    })
                });
                if running_here && !reread_due.get_value() {
                    reread_due.set_value(true);
                    set_timeout(
                        move || {
                            reread_due.try_update_value(|due| *due = false);
                            reread.try_update(|n| *n += 1);
                        },
                        std::time::Duration::from_secs(1),
                    );
                }
                // A step changed: refresh that job's tree if it is open.
                tree_refresh.update(|m| {
                    if let Some(n) = m.get_mut(&event.job_id) {
                        *n += 1;
                    }
                });
            }
        }
    });

    let filter_now = move || filter_from_query(&query.get());
    let param = move |k: &'static str| query.get().get(k).unwrap_or_default();
    // One copyable handle for every filter control.
    let set = StoredValue::new_local(set_param.clone());
    let on_change = move |key: &'static str| {
        move |ev: leptos::ev::Event| set.with_value(|f| f(key, event_target_value(&ev)))
    };
    let nav_next = navigate.clone();

    view! {
        <section class="filters card" aria-label="Filters">
            <div class="field">
                <label for="f-external">"External"</label>
                <select id="f-external" on:change=on_change("external")
                    prop:value=move || param("external")>
                    <option value="">"All"</option>
                    <option value="true">"External"</option>
                    <option value="false">"Internal"</option>
                </select>
            </div>
            <div class="field">
                <label for="f-status">"Status"</label>
                <select id="f-status" on:change=on_change("status")
                    prop:value=move || param("status")>
                    <option value="">"Any"</option>
                    <option value="started">"Running"</option>
                    <option value="finished">"Finished"</option>
                    <option value="failed">"Failed"</option>
                    <option value="aborted">"Aborted"</option>
                    <option value="unknown">"Unknown"</option>
                </select>
            </div>
            <div class="field grow">
                <label for="f-q">"Text"</label>
                <input id="f-q" type="search" placeholder="Words in the description"
                    prop:value=move || param("q")
                    on:change=on_change("q")/>
            </div>
            <div class="field">
                <label for="f-correlation">"Correlation id"</label>
                <input id="f-correlation" prop:value=move || param("correlation_id")
                    on:change=on_change("correlation_id")/>
            </div>
            <div class="field">
                <label for="f-owner">"Owner"</label>
                <input id="f-owner" prop:value=move || param("owner")
                    on:change=on_change("owner")/>
            </div>
            <div class="field">
                <label for="f-after">"Started after"</label>
                <input id="f-after" type="datetime-local" prop:value=move || param("started_after")
                    on:change=on_change("started_after")/>
            </div>
            <div class="field">
                <label for="f-before">"Started before"</label>
                <input id="f-before" type="datetime-local" prop:value=move || param("started_before")
                    on:change=on_change("started_before")/>
            </div>
        </section>

        <super::bulk::BulkActions filter=Signal::derive(filter_now)/>

        {move || error.get().map(|e| view! { <ErrorNote error=e/> })}

        <section class="card jobs" aria-label="Jobs">
            <div class="jobs-head" aria-hidden="true">
                <span></span><span>"Status"</span><span>"Description"</span><span>"Owner"</span>
                <span>"Kind"</span><span>"Started"</span><span>"Ended"</span><span>"Duration"</span><span>"Progress"</span>
            </div>
            // The tree holds tree items only; what says there are none is in its place.
            <Show when=move || loaded.get() fallback=|| view! { <p class="placeholder" aria-busy="true">"Loading jobs…"</p> }>
                <Show when=move || !jobs.with(|j| j.is_empty()) fallback=move || view! {
                    <p class="placeholder">{move || if filter_now() == JobFilter::default() { "No jobs yet." } else { "No jobs match these filters." }}</p>
                }>
                    <ul role="tree" aria-label="Jobs and their steps" class="job-list">
                        <For each=move || jobs.get() key=|j| j.with_untracked(|j| j.id) let:job>
                            <JobRow job=job.into() tree_refresh/>
                        </For>
                    </ul>
                </Show>
            </Show>
            <nav class="pager" aria-label="Pages">
                <Show when=move || query.get().get("cursor").is_some()>
                    <button type="button" on:click={
                        // Re-setting any filter to its value drops the page position.
                        let set_param = set_param.clone();
                        move |_| set_param("external", query.get_untracked().get("external").unwrap_or_default())
                    }>"Newest"</button>
                </Show>
                <Show when=move || next_cursor.get().is_some()>
                    <button type="button" on:click={
                        let nav_next = nav_next.clone();
                        move |_| {
                            let q = query.get_untracked();
                            let mut out = form_urlencoded::Serializer::new(String::new());
                            for (k, v) in q.into_iter() {
                                if k != "cursor" { out.append_pair(&k, &v); }
                            }
                            if let Some(c) = next_cursor.get_untracked() { out.append_pair("cursor", &c); }
                            nav_next(&format!("/?{}", out.finish()), Default::default());
                        }
                    }>"Older"</button>
                </Show>
            </nav>
        </section>
    }
}

/// A newly loaded page's jobs, reusing the signal of each job already shown (its row stays as it is,
/// redrawn in place where the job changed).
fn merge(list: &mut Vec<ArcRwSignal<Job>>, items: Vec<Job>, may_stay: impl Fn(&Job) -> bool) {
    // Rows newer than the page's newest job, which the page may stay with: jobs added by a live
    // event while the page was being read (the page, read before they existed, would drop them).
    let newest = items.first().map(|j| (j.start_time, j.id));
    let (newer, older): (Vec<_>, Vec<_>) = list.drain(..).partition(|row| {
        row.with_untracked(|j| newest.is_none_or(|n| (j.start_time, j.id) > n) && may_stay(j))
    });
    let mut shown: std::collections::HashMap<Uuid, ArcRwSignal<Job>> = older
        .into_iter()
        .map(|j| (j.with_untracked(|j| j.id), j))
        .collect();
    let newer: Vec<_> = newer
        .into_iter()
        .filter(|row| row.with_untracked(|j| !items.iter().any(|i| i.id == j.id)))
        .collect();
    list.extend(newer);
    list.extend(items.into_iter().map(|job| match shown.remove(&job.id) {
        Some(row) => {
            if row.with_untracked(|j| *j != job) {
                row.set(job);
            }
            row
        }
        None => ArcRwSignal::new(job),
    }));
}

/// One job: a tree item that expands into its steps.
#[component]
fn JobRow(
    job: RwSignal<Job>,
    tree_refresh: RwSignal<std::collections::HashMap<Uuid, u32>>,
) -> impl IntoView {
    let id = job.with_untracked(|j| j.id);
    let expanded = RwSignal::new(tree_refresh.get_untracked().contains_key(&id));
    let toggle = move || {
        let open = !expanded.get_untracked();
        expanded.set(open);
        tree_refresh.update(|m| {
            if open {
                m.entry(id).or_insert(0);
            } else {
                m.remove(&id);
            }
        });
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        match ev.key().as_str() {
            "ArrowRight" if !expanded.get_untracked() => toggle(),
            "ArrowLeft" if expanded.get_untracked() => toggle(),
            "Enter" | " " => toggle(),
            "ArrowDown" | "ArrowUp" => focus_sibling(&ev, ev.key() == "ArrowDown"),
            _ => return,
        }
        ev.prevent_default();
        ev.stop_propagation();
    };
    // What never changes is read once; the rest follows the job's signal.
    let (owner, is_external, start) =
        job.with_untracked(|j| (j.owner_name.clone(), j.is_external, j.start_time));
    let status = move || format::status(job.with(|j| j.status));
    // Hovering an unknown job tells why the engine holds it so, as its page does.
    let status_title = move || {
        job.with(|j| {
            format::unknown_because(j.status, j.is_external, j.timeout_seconds)
                .filter(|_| j.result.is_none())
                .unwrap_or_else(|| format::status(j.status).1.to_owned())
        })
    };
    let description = move || job.with(|j| j.description.clone());
    let end = move || job.with(|j| j.end_time);
    let now = super::live::use_now();
    let duration = move || format::duration(start, end().unwrap_or_else(|| now.get()));
    // Only this job's count: another open tree's change must not reload this one.
    let refresh = Memo::new(move |_| tree_refresh.with(|m| m.get(&id).copied().unwrap_or(0)));
    view! {
        <li role="treeitem" prop:ariaLevel="1" aria-expanded=move || expanded.get().to_string()
            tabindex="0" class="job" data-testid="job-row" data-job-id=id.to_string() on:keydown=on_key>
            <div class="row">
                <button type="button" class="expander" tabindex="-1"
                    aria-label=move || if expanded.get() { "Collapse" } else { "Expand" }
                    on:click=move |_| toggle()>
                    {move || if expanded.get() { "▾" } else { "▸" }}
                </button>
                <span class=move || format!("status {}", status().2) title=status_title>
                    <span aria-hidden="true">{move || status().0}</span>" "{move || status().1}
                </span>
                <a class="desc" href=format!("/jobs/{id}") title=description>{description}</a>
                <span class="owner" title=owner.clone()>{owner.clone()}</span>
                <span class=if is_external { "badge ext" } else { "badge int" }>
                    {if is_external { "External" } else { "Internal" }}
                </span>
                <span class="time">{format::time(start)}</span>
                <span class="time">{move || end().map(format::time).unwrap_or_else(|| "—".into())}</span>
                <span class="time">{duration}</span>
                {move || view! { <Progress value=job.with(|j| j.progress)/> }}
            </div>
            <Show when=move || expanded.get()>
                <StepTree job_id=id refresh=refresh.into() level=2/>
            </Show>
        </li>
    }
}

/// A progress bar, or nothing where progress is not known.
#[component]
pub fn Progress(value: Option<i16>) -> impl IntoView {
    match value {
        Some(p) => view! {
            <span class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=p.to_string()
                aria-label="Progress">
                <span class="bar" style=format!("width: {p}%")></span>
                <span class="pct">{format!("{p}%")}</span>
            </span>
        }
        .into_any(),
        None => view! { <span class="progress none"></span> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(n: u128, started_second: i64) -> Job {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(n), "description": format!("job {n}"), "status": "started",
            "is_external": true, "auto_cleared": false, "owner": Uuid::from_u128(99),
            "owner_name": "admin",
            "start_time": chrono::DateTime::from_timestamp(started_second, 0).unwrap(),
            "last_updated": chrono::DateTime::from_timestamp(started_second, 0).unwrap(),
        }))
        .unwrap()
    }

    fn ids(list: &[ArcRwSignal<Job>]) -> Vec<u128> {
        list.iter()
            .map(|r| r.with_untracked(|j| j.id.as_u128()))
            .collect()
    }

    #[test]
    fn a_page_read_before_a_job_arrived_live_keeps_that_job_and_drops_what_is_gone() {
        // Shown: job 3, just arrived live; jobs 2 and 1 as the last page had them.
        let mut list: Vec<_> = [job(3, 30), job(2, 20), job(1, 10)]
            .into_iter()
            .map(ArcRwSignal::new)
            .collect();
        // A page read before job 3 existed, without job 1 (purged meanwhile), with job 0.
        merge(&mut list, vec![job(2, 20), job(0, 5)], |_| true);
        assert_eq!(ids(&list), [3, 2, 0]);
        // Where the newer job may not stay (another page, or it does not match), the page rules.
        merge(&mut list, vec![job(2, 20), job(0, 5)], |_| false);
        assert_eq!(ids(&list), [2, 0]);
        // An empty page keeps only what may stay.
        let mut list = vec![ArcRwSignal::new(job(4, 40))];
        merge(&mut list, Vec::new(), |j| j.id.as_u128() != 4);
        assert!(list.is_empty());
    }
}
