//! Bulk commands over the current filter — end, clean up, export — with a preview count first.

use leptos::prelude::*;

use super::use_me;
use crate::api::{count_jobs, run_command};
use crate::domain::{ActionGroup, JobFilter, Status};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bulk {
    End,
    Cleanup,
    ExportJsonl,
    ExportCsv,
}

impl Bulk {
    fn parse(s: &str) -> Bulk {
        match s {
            "cleanup" => Bulk::Cleanup,
            "export-jsonl" => Bulk::ExportJsonl,
            "export-csv" => Bulk::ExportCsv,
            _ => Bulk::End,
        }
    }

    /// The jobs the command would touch, as a filter for the preview.
    fn scope(self, filter: &JobFilter) -> JobFilter {
        let mut f = filter.clone();
        let keep: &[Status] = match self {
            Bulk::End => &[Status::Started, Status::Unknown],
            Bulk::Cleanup => &[Status::Finished, Status::Failed, Status::Aborted],
            Bulk::ExportJsonl | Bulk::ExportCsv => return f,
        };
        f.status = if f.status.is_empty() {
            keep.to_vec()
        } else {
            f.status.into_iter().filter(|s| keep.contains(s)).collect()
        };
        f
    }
}

#[component]
pub fn BulkActions(filter: Signal<JobFilter>) -> impl IntoView {
    let me = use_me();
    let may_run = me.can(ActionGroup::RunInternalCommands);
    let may_manage = me.can(ActionGroup::ManageTasks);
    let open = RwSignal::new(false);
    let kind = RwSignal::new(if may_manage {
        Bulk::End
    } else {
        Bulk::ExportJsonl
    });
    let end_as = RwSignal::new("aborted".to_owned());
    let older = RwSignal::new(0i64);
    let preview = RwSignal::new(None::<Result<i64, String>>);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    // A new filter or command needs a new preview.
    Effect::new(move |_| {
        let _ = (filter.get(), kind.get());
        preview.set(None);
    });
    let do_preview = move |_| {
        let scope = kind.get_untracked().scope(&filter.get_untracked());
        leptos::task::spawn_local(async move {
            preview.set(Some(count_jobs(scope).await.map_err(|e| e.to_string())));
        });
    };
    let do_run = move |_| {
        let k = kind.get_untracked();
        let f = serde_json::to_value(filter.get_untracked()).unwrap_or_default();
        let (name, params) = match k {
            Bulk::End => (
                "EndJobs",
                serde_json::json!({ "filter": f, "status": end_as.get_untracked() }),
            ),
            Bulk::Cleanup => (
                "CleanupJobs",
                serde_json::json!({ "filter": f, "older_than_minutes": older.get_untracked() }),
            ),
            Bulk::ExportJsonl => (
                "ExportJobs",
                serde_json::json!({ "filter": f, "format": "jsonl" }),
            ),
            Bulk::ExportCsv => (
                "ExportJobs",
                serde_json::json!({ "filter": f, "format": "csv" }),
            ),
        };
        leptos::task::spawn_local(async move {
            outcome.set(Some(match run_command(name.to_owned(), params).await {
                Ok(Some(job)) => Ok(job.id.to_string()),
                Ok(None) => Ok(String::new()),
                Err(e) => Err(e.to_string()),
            }));
            preview.set(None);
        });
    };
    view! {
        <Show when=move || may_run>
            <div class="bulk">
                <button type="button" aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>
                    "Bulk actions…"
                </button>
                <Show when=move || open.get()>
                    <div class="card bulk-panel" role="group" aria-label="Bulk actions on the jobs matching the filters">
                        <div class="field">
                            <label for="bulk-kind">"Action"</label>
                            <select id="bulk-kind" on:change=move |ev| kind.set(Bulk::parse(&event_target_value(&ev)))>
                                // Each option follows the choice: the panel is made anew each time it
                                // opens, and showed its first action again while the one chosen
                                // before it closed (say, delete) was what Run would do.
                                <Show when=move || may_manage>
                                    <option value="end" prop:selected=move || kind.get() == Bulk::End>"End matching running jobs"</option>
                                    <option value="cleanup" prop:selected=move || kind.get() == Bulk::Cleanup>"Delete matching ended jobs"</option>
                                </Show>
                                <option value="export-jsonl" prop:selected=move || kind.get() == Bulk::ExportJsonl>"Export matching jobs (JSON Lines)"</option>
                                <option value="export-csv" prop:selected=move || kind.get() == Bulk::ExportCsv>"Export matching jobs (CSV)"</option>
                            </select>
                        </div>
                        <Show when=move || kind.get() == Bulk::End>
                            <div class="field">
                                <label for="bulk-status">"End as"</label>
                                <select id="bulk-status" on:change=move |ev| end_as.set(event_target_value(&ev))>
                                    <option value="aborted" prop:selected=move || end_as.get() == "aborted">"Aborted"</option>
                                    <option value="failed" prop:selected=move || end_as.get() == "failed">"Failed"</option>
                                    <option value="finished" prop:selected=move || end_as.get() == "finished">"Finished"</option>
                                </select>
                            </div>
                        </Show>
                        <Show when=move || kind.get() == Bulk::Cleanup>
                            <div class="field">
                                <label for="bulk-older">"Ended at least (minutes) ago"</label>
                                <input id="bulk-older" type="number" min="0" prop:value=move || older.get().to_string()
                                    on:change=move |ev| older.set(event_target_value(&ev).parse().unwrap_or(0))/>
                            </div>
                        </Show>
                        <div class="actions">
                            <button type="button" on:click=do_preview>"Preview"</button>
                            {move || preview.get().map(|p| match p {
                                Ok(n) => view! {
                                    <span data-testid="bulk-preview">{format!("{n} job(s) match.")}</span>
                                    <button type="button" class="primary" on:click=do_run disabled=n == 0>
                                        {format!("Run on {n} job(s)")}
                                    </button>
                                }.into_any(),
                                Err(e) => view! { <span class="error" role="alert">{e}</span> }.into_any(),
                            })}
                        </div>
                        {move || outcome.get().map(|o| match o {
                            Ok(job) if !job.is_empty() => view! {
                                <p class="ok" role="status">"Started. Follow it as "<a href=format!("/jobs/{job}")>"its own job"</a>"."</p>
                            }.into_any(),
                            Ok(_) => view! { <p class="ok" role="status">"Done."</p> }.into_any(),
                            Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                        })}
                    </div>
                </Show>
            </div>
        </Show>
    }
}
