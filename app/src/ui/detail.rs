//! A job's detail: its facts, actions, the step tree beside a timeline.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use super::format;
use super::jobs::Progress;
use super::live::use_live;
use super::tree::StepTree;
use super::{use_me, ErrorNote};
use crate::api::{clear_job, end_job, get_job};
use crate::domain::{flatten, ActionGroup, EndStatus, Job, Status, Step};

#[component]
pub fn JobDetail() -> impl IntoView {
    let params = use_params_map();
    let job_id = move || {
        params
            .get()
            .get("id")
            .and_then(|s| Uuid::parse_str(&s).ok())
    };
    let live = use_live();
    // Any event of this job reloads it (debounced by the resource: the last answer wins).
    let refresh = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let (Some(e), Some(id)) = (live.last.get(), job_id()) {
            if e.job_id == id {
                refresh.update(|n| *n += 1);
            }
        }
    });
    let job = LocalResource::new(move || {
        let _ = refresh.get();
        let _ = live.resyncs.get();
        let id = job_id();
        async move {
            match id {
                Some(id) => get_job(id).await.map(Some),
                None => Ok(None),
            }
        }
    });
    let shown = RwSignal::new(None::<Job>);
    let error = RwSignal::new(None::<crate::api::AppError>);
    Effect::new(move |_| match job.get() {
        Some(Ok(j)) => {
            shown.set(j);
            error.set(None);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    view! {
        <p><a href="/">"← All jobs"</a></p>
        {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
        {move || match (job_id(), shown.get()) {
            (None, _) => view! { <p class="error" role="alert">"That is not a job id."</p> }.into_any(),
            (Some(_), None) => view! { <section class="card" aria-busy="true">"Loading the job…"</section> }.into_any(),
            (Some(_), Some(j)) => view! { <JobView job=j refresh/> }.into_any(),
        }}
    }
}

#[component]
fn JobView(job: Job, refresh: RwSignal<u32>) -> impl IntoView {
    let me = use_me();
    let may_change = me.can(ActionGroup::ManageTasks)
        || (me.can(ActionGroup::InjectExternalTasks) && me.id == job.owner);
    let (icon, word, class) = format::status(job.status);
    let steps = flatten(job.steps.clone().unwrap_or_default());
    let id = job.id;
    let tree_refresh = Signal::derive(move || refresh.get());
    view! {
        <section class="card job-facts" aria-labelledby="job-title">
            <h2 id="job-title">{job.description.clone()}</h2>
            <dl>
                <dt>"Status"</dt><dd><span class=format!("status {class}") data-testid="job-status"><span aria-hidden="true">{icon}</span>" "{word}</span></dd>
                <dt>"Kind"</dt><dd>{if job.is_external { "External (plug-in)" } else { "Internal (engine command)" }}</dd>
                <dt>"Owner"</dt><dd>{job.owner_name.clone()}</dd>
                <dt>"Started"</dt><dd>{format::time(job.start_time)}</dd>
                <dt>"Ended"</dt><dd>{job.end_time.map(format::time).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Correlation id"</dt><dd>{job.correlation_id.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Auto-cleared"</dt><dd>{if job.auto_cleared { "Yes" } else { "No" }}</dd>
                <dt>"Progress"</dt><dd><Progress value=job.progress/></dd>
            </dl>
            <Show when=move || may_change>
                <Actions job_id=id status=job.status auto_cleared=job.auto_cleared/>
            </Show>
        </section>
        <section class="detail-grid">
            <div class="card">
                <h3>"Steps"</h3>
                <ul role="tree" aria-label="Steps" class="job-list">
                    <StepTree job_id=id refresh=tree_refresh level=1/>
                </ul>
            </div>
            <div class="card">
                <h3>"Timeline"</h3>
                <Timeline job_start=job.start_time job_end=job.end_time steps/>
            </div>
        </section>
    }
}

/// End (with status and force) and clear, with a confirmation that says what they do.
#[component]
fn Actions(job_id: Uuid, status: Status, auto_cleared: bool) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let end_status = RwSignal::new(EndStatus::Finished);
    let force = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let running = !status.is_terminal();
    let do_end = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = end_job(job_id, end_status.get_untracked(), force.get_untracked()).await;
            busy.set(false);
            confirming.set(false);
            message.set(Some(match r {
                Ok(j) => Ok(format!(
                    "The job is now {}.",
                    format::status(j.status).1.to_lowercase()
                )),
                Err(e) => Err(e.to_string()),
            }));
        });
    };
    let do_clear = move |_| {
        leptos::task::spawn_local(async move {
            message.set(Some(match clear_job(job_id).await {
                Ok(_) => Ok("The job will be removed automatically once it has ended.".into()),
                Err(e) => Err(e.to_string()),
            }));
        });
    };
    view! {
        <div class="actions">
            <button type="button" class="primary" on:click=move |_| confirming.set(true)>
                {if running { "End job…" } else { "Change status…" }}
            </button>
            <button type="button" on:click=do_clear disabled=auto_cleared>"Clear"</button>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <span class="ok" role="status">{text}</span> }.into_any(),
                Err(text) => view! { <span class="error" role="alert">{text}</span> }.into_any(),
            })}
        </div>
        <Show when=move || confirming.get()>
            <div class="confirm card" role="dialog" aria-modal="false" aria-labelledby="end-title">
                <h3 id="end-title">"End this job"</h3>
                <label for="end-status">"End as"</label>
                <select id="end-status" on:change=move |ev| end_status.set(match event_target_value(&ev).as_str() {
                    "failed" => EndStatus::Failed,
                    "aborted" => EndStatus::Aborted,
                    _ => EndStatus::Finished,
                })>
                    <option value="finished">"Finished"</option>
                    <option value="failed">"Failed"</option>
                    <option value="aborted">"Aborted"</option>
                </select>
                <label class="check">
                    <input type="checkbox" prop:checked=move || force.get()
                        on:change=move |ev| force.set(event_target_checked(&ev))/>
                    " Force"
                </label>
                <p class="muted">
                    {if running {
                        "Steps still running take the job's status. With force they are aborted instead."
                    } else {
                        "The job has ended. Force overwrites its status (an administrator's correction); without force a different status is refused."
                    }}
                </p>
                <div class="actions">
                    <button type="button" class="primary" on:click=do_end disabled=move || busy.get()>"Confirm end"</button>
                    <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </div>
            </div>
        </Show>
    }
}

/// A bar per step from its start to its end on the job's time axis, indented like the tree; running
/// steps grow with the clock.
#[component]
fn Timeline(
    job_start: DateTime<Utc>,
    job_end: Option<DateTime<Utc>>,
    steps: Vec<Step>,
) -> impl IntoView {
    let now = super::live::use_now();
    let depth = depths(&steps);
    let rows = steps
        .into_iter()
        .zip(depth)
        .map(|(step, level)| {
            let (_, word, class) = format::status(step.status);
            let start = step.start_time;
            let end = step.end_time;
            let style = move || {
                let axis = job_end.unwrap_or_else(|| now.get()).max(start) - job_start;
                let span = axis.num_milliseconds().max(1000) as f64;
                let left = ((start - job_start).num_milliseconds().max(0) as f64 / span * 100.0).min(100.0);
                let stop = end.unwrap_or_else(|| now.get());
                let width = ((stop - start).num_milliseconds().max(0) as f64 / span * 100.0).clamp(0.4, 100.0 - left);
                format!("left: {left:.2}%; width: {width:.2}%")
            };
            view! {
                <li class="tl-row" data-testid="timeline-bar">
                    <span class="tl-label" style=format!("padding-left: {}rem", level as f32 * 0.9)>{step.description}</span>
                    <span class="tl-track">
                        <span class=format!("tl-bar {class}") style=style
                            title=move || format!("{word}: {}", format::duration(start, end.unwrap_or_else(|| now.get())))></span>
                    </span>
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="timeline" role="img" aria-label="Timeline of the job's steps">
            <div class="tl-axis" aria-hidden="true">
                <span>{format::time(job_start)}</span>
                <span>{move || format::time(job_end.unwrap_or_else(|| now.get()))}</span>
            </div>
            <ul class="tl-rows">{rows}</ul>
        </div>
    }
}

/// Each step's depth (0 for a top-level step), in the flattened order.
fn depths(steps: &[Step]) -> Vec<usize> {
    let mut level = std::collections::HashMap::new();
    steps
        .iter()
        .map(|s| {
            let d = s
                .parent_step_id
                .and_then(|p| level.get(&p).map(|d| d + 1))
                .unwrap_or(0);
            level.insert(s.id, d);
            d
        })
        .collect()
}
