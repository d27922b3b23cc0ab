//! A job's detail: its facts, actions, the step tree beside a timeline.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use super::format;
use super::jobs::Progress;
use super::live::use_live;
use super::reload::Reloads;
use super::tree::{of, show_more, TopSteps, TreeState, STEPS_PER_WINDOW};
use super::{use_me, ErrorNote, Outcome};
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
    // What the person opened in the tree and the timeline outlives each redraw of the job.
    provide_context(TreeState::new());
    // Any event of this job reloads it, the reads coalesced (see `Reloads`): a burst of a
    // plug-in's reports makes a few reads of the whole tree, not one each.
    let reloads = Reloads::new();
    Effect::new(move |_| {
        if let (Some(e), Some(id)) = (live.last.get(), job_id()) {
            if e.job_id == id {
                reloads.ask();
            }
        }
    });
    let job = LocalResource::new(move || {
        reloads.track();
        let _ = live.resyncs.get();
        let id = job_id();
        async move {
            let read = match id {
                Some(id) => get_job(id).await.map(Some),
                None => Ok(None),
            };
            reloads.answered();
            read
        }
    });
    let shown = RwSignal::new(None::<Job>);
    // The job was removed (cleared and purged, or cleaned up) while the page showed it: the page
    // says so and keeps its last state, without the actions.
    let removed = RwSignal::new(false);
    let shown_id = Memo::new(move |_| shown.with(|j| j.as_ref().map(|j| j.id)));
    let error = RwSignal::new(None::<crate::api::AppError>);
    Effect::new(move |_| match job.get() {
        Some(Ok(j)) => {
            shown.set(j);
            error.set(None);
            removed.set(false);
        }
        Some(Err(crate::api::AppError::NotFound(_)))
            if shown.with_untracked(|j| j.as_ref().map(|j| j.id))
                == params
                    .with_untracked(|p| p.get("id").and_then(|s| Uuid::parse_str(&s).ok())) =>
        {
            removed.set(true)
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    view! {
        <p><a href="/">"← All jobs"</a></p>
        {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
        {move || removed.get().then(|| view! {
            <p class="error" role="status" data-testid="job-removed">
                "This job has been removed. What follows is how it last stood."
            </p>
        })}
        // The view of a job is made once and follows its changes: redrawn whole on each one, it
        // closed the "End job" dialog the person was filling in and took the keyboard focus away.
        {move || match (job_id(), shown_id.get()) {
            (None, _) => view! { <p class="error" role="alert">"That is not a job id."</p> }.into_any(),
            (Some(_), None) => view! { <section class="card" aria-busy="true">"Loading the job…"</section> }.into_any(),
            (Some(_), Some(_)) => match shown.get_untracked() {
                Some(first) => {
                    let job = Memo::new(move |_| shown.get().unwrap_or_else(|| first.clone()));
                    view! { <JobView job removed=removed.into()/> }.into_any()
                }
                None => ().into_any(),
            },
        }}
    }
}

/// A job's facts, its actions, its step tree and its timeline, following the job as it changes.
/// The facts and the actions stay in place; the tree and the timeline are drawn again from each
/// fresh copy (the tree keeps what the person opened, see `TreeState`).
#[component]
fn JobView(job: Memo<Job>, removed: Signal<bool>) -> impl IntoView {
    let me = use_me();
    let (id, owner, owner_name, is_external, start, correlation_id, lease) =
        job.with_untracked(|j| {
            (
                j.id,
                j.owner,
                j.owner_name.clone(),
                j.is_external,
                j.start_time,
                j.correlation_id.clone(),
                j.timeout_seconds,
            )
        });
    let may_change = me.can(ActionGroup::ManageTasks)
        || (me.can(ActionGroup::InjectExternalTasks) && me.id == owner);
    let status = Memo::new(move |_| job.with(|j| j.status));
    let auto_cleared = Memo::new(move |_| job.with(|j| j.auto_cleared));
    let end = Memo::new(move |_| job.with(|j| j.end_time));
    let progress = Memo::new(move |_| job.with(|j| j.progress));
    let result = Memo::new(move |_| job.with(|j| j.result.clone()));
    let look = move || format::status(status.get());
    let tree = Memo::new(move |_| job.with(|j| j.steps.clone().unwrap_or_default()));
    let flat = Memo::new(move |_| flatten(tree.get()));
    view! {
        <section class="card job-facts" aria-labelledby="job-title">
            <h2 id="job-title">{move || job.with(|j| j.description.clone())}</h2>
            <dl>
                <dt>"Status"</dt><dd><span class=move || format!("status {}", look().2) data-testid="job-status"><span aria-hidden="true">{move || look().0}</span>" "{move || look().1}</span></dd>
                <dt>"Kind"</dt><dd>{if is_external { "External (plug-in)" } else { "Internal (engine command)" }}</dd>
                <dt>"Owner"</dt><dd>{owner_name}</dd>
                <dt>"Started"</dt><dd>{format::time(start)}</dd>
                <dt>"Ended"</dt><dd>{move || end.get().map(format::time).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Correlation id"</dt><dd>{correlation_id.unwrap_or_else(|| "—".into())}</dd>
                <dt>"Auto-cleared"</dt><dd>{move || if auto_cleared.get() { "Yes" } else { "No" }}</dd>
                {lease.map(|t| view! {
                    <dt>"Lease"</dt>
                    <dd data-testid="job-lease">{format!("{}, renewed by each change or heartbeat from its plug-in", format::seconds(t.into()))}</dd>
                })}
                // Blank looked like a value missing; a dash as for the other facts not known yet.
                <dt>"Progress"</dt><dd>{move || match progress.get() {
                    Some(p) => view! { <Progress value=Some(p)/> }.into_any(),
                    None => view! { "—" }.into_any(),
                }}</dd>
                // What a command reports when it ends (counts, its export's file, why it failed),
                // or what a plug-in said as it ended the job; else why the engine made it unknown.
                <dt>"Outcome"</dt><dd data-testid="job-outcome">{move || match result.get() {
                    Some(text) => view! { <Outcome text/> }.into_any(),
                    None => match format::unknown_because(status.get(), is_external, lease) {
                        Some(why) => view! { <span class="muted">{why}</span> }.into_any(),
                        None => view! { "—" }.into_any(),
                    },
                }}</dd>
            </dl>
            <Show when=move || may_change && !removed.get()>
                <Actions job_id=id status=status.into() auto_cleared=auto_cleared.into()/>
            </Show>
        </section>
        <section class="detail-grid">
            <div class="card">
                <h3>"Steps"</h3>
                <div class="job-list">
                    <TopSteps nodes=tree.into() level=1 label=Some("Steps")/>
                </div>
            </div>
            <div class="card">
                <h3>"Timeline"</h3>
                <Timeline job_start=start job_end=end.into() steps=flat.into()/>
            </div>
        </section>
    }
}

/// End (with status and force) and clear, with a confirmation that says what they do.
#[component]
fn Actions(job_id: Uuid, status: Signal<Status>, auto_cleared: Signal<bool>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let end_status = RwSignal::new(EndStatus::Finished);
    let force = RwSignal::new(false);
    let reason = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let message = RwSignal::new(None::<Result<String, String>>);
    let running = move || !status.get().is_terminal();
    // From the keyboard: opening the dialog takes the focus to its first field; Escape or Cancel
    // closes it, as ending does, and the focus goes back to the button that opened it.
    let open_button = NodeRef::<leptos::html::Button>::new();
    let first_field = NodeRef::<leptos::html::Select>::new();
    Effect::new(move || {
        if let Some(field) = first_field.get() {
            let _ = field.focus();
        }
    });
    let close = move || {
        confirming.set(false);
        if let Some(button) = open_button.get_untracked() {
            let _ = button.focus();
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            close();
        }
    };
    let do_end = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = end_job(
                job_id,
                end_status.get_untracked(),
                force.get_untracked(),
                Some(reason.get_untracked()),
            )
            .await;
            busy.set(false);
            // A refusal keeps the dialog, with what was chosen and written, to correct.
            if r.is_ok() {
                close();
                reason.set(String::new());
            }
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
            <button type="button" class="primary" node_ref=open_button aria-expanded=move || confirming.get().to_string()
                on:click=move |_| confirming.set(true)>
                {move || if running() { "End job…" } else { "Change status…" }}
            </button>
            <button type="button" on:click=do_clear disabled=move || auto_cleared.get()>"Clear"</button>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <span class="ok" role="status">{text}</span> }.into_any(),
                Err(text) => view! { <span class="error" role="alert">{text}</span> }.into_any(),
            })}
        </div>
        <Show when=move || confirming.get()>
            <div class="confirm card" role="dialog" aria-modal="false" aria-labelledby="end-title" on:keydown=on_key>
                <h3 id="end-title">"End this job"</h3>
                <label for="end-status">"End as"</label>
                <select id="end-status" node_ref=first_field on:change=move |ev| end_status.set(match event_target_value(&ev).as_str() {
                    "failed" => EndStatus::Failed,
                    "aborted" => EndStatus::Aborted,
                    _ => EndStatus::Finished,
                })>
                    // Each option follows the choice: the dialog is made anew each time it opens,
                    // and showed "Finished" again while a choice of "Failed" before Cancel held.
                    <option value="finished" prop:selected=move || end_status.get() == EndStatus::Finished>"Finished"</option>
                    <option value="failed" prop:selected=move || end_status.get() == EndStatus::Failed>"Failed"</option>
                    <option value="aborted" prop:selected=move || end_status.get() == EndStatus::Aborted>"Aborted"</option>
                </select>
                <label for="end-reason">"Reason (optional)"</label>
                <input id="end-reason" maxlength="4000" placeholder="Shown with the job as its outcome"
                    prop:value=move || reason.get() on:input=move |ev| reason.set(event_target_value(&ev))/>
                <label class="check">
                    <input type="checkbox" prop:checked=move || force.get()
                        on:change=move |ev| force.set(event_target_checked(&ev))/>
                    " Force"
                </label>
                <p class="muted">
                    {move || if running() {
                        "Steps still running take the job's status. With force they are aborted instead."
                    } else {
                        "The job has ended. Force overwrites its status (an administrator's correction); without force a different status is refused."
                    }}
                </p>
                <div class="actions">
                    <button type="button" class="primary" on:click=do_end disabled=move || busy.get()>"Confirm end"</button>
                    <button type="button" on:click=move |_| close()>"Cancel"</button>
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
    job_end: Signal<Option<DateTime<Utc>>>,
    steps: Signal<Vec<Step>>,
) -> impl IntoView {
    let now = super::live::use_now();
    let total = Memo::new(move |_| steps.with(|s| s.len()));
    // As the tree: a window of bars at a time, each running bar a closure on the clock.
    let windows = use_context::<TreeState>()
        .unwrap_or_default()
        .timeline_windows;
    let shown = move || (windows.get() * STEPS_PER_WINDOW).min(total.get());
    // The bars are drawn again from each fresh copy of the job (they hold nothing a person works
    // with); the "Show more" button below them stays in place.
    let bars = move || {
        let n = shown();
        steps.with(|steps| {
            steps
                .iter()
                .zip(depths(steps))
                .take(n)
                .map(|(step, level)| {
                    let (_, word, class) = format::status(step.status);
                    let start = step.start_time;
                    let end = step.end_time;
                    let style = move || {
                        let (left, width) = bar(
                            job_start,
                            job_end.get().unwrap_or_else(|| now.get()),
                            start,
                            end.unwrap_or_else(|| now.get()),
                        );
                        format!("left: {left:.2}%; width: {width:.2}%")
                    };
                    view! {
                        <li class="tl-row" data-testid="timeline-bar">
                            <span class="tl-label" style=format!("padding-left: {}rem", level as f32 * 0.9)
                                title=step.description.clone()>{step.description.clone()}</span>
                            <span class="tl-track">
                                <span class=format!("tl-bar {class}") style=style
                                    title=move || format!("{word}: {}", format::duration(start, end.unwrap_or_else(|| now.get())))></span>
                            </span>
                        </li>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <div class="timeline" role="img" aria-label="Timeline of the job's steps">
            <div class="tl-axis" aria-hidden="true">
                <span>{format::time(job_start)}</span>
                <span>{move || format::time(job_end.get().unwrap_or_else(|| now.get()))}</span>
            </div>
            <ul class="tl-rows">{bars}</ul>
        </div>
        <Show when=move || shown() < total.get()>
            <p class="more" data-testid="more-bars">
                <button type="button" on:click=move |_| windows.update(|w| *w += 1)>
                    {move || show_more(shown(), total.get())}
                </button>
                <span class="muted">{move || format!(" — {} steps on the timeline", of(shown(), total.get()))}</span>
            </p>
        </Show>
    }
}

/// Where a step's bar stands on the job's axis, in percent: its left edge and its width, at least
/// 0.4 so that an instant stays visible, and never past the axis' end. A step that starts at the very
/// end of the axis (one just added to a running job) used to ask for a width between 0.4 and 0, and
/// that panic stopped the whole page.
fn bar(
    job_start: DateTime<Utc>,
    axis_end: DateTime<Utc>,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
) -> (f64, f64) {
    let span = (axis_end.max(start) - job_start)
        .num_milliseconds()
        .max(1000) as f64;
    let percent = |from: DateTime<Utc>, to: DateTime<Utc>| {
        (to - from).num_milliseconds().max(0) as f64 / span * 100.0
    };
    let left = percent(job_start, start).min(99.6);
    let width = percent(start, stop).max(0.4).min(100.0 - left);
    (left, width)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_stays_on_the_axis_wherever_its_step_starts() {
        let at = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
        assert_eq!(bar(at(0), at(10_000), at(0), at(10_000)), (0.0, 100.0));
        assert_eq!(bar(at(0), at(10_000), at(2_500), at(5_000)), (25.0, 25.0));
        // An instant is still seen.
        assert_eq!(bar(at(0), at(10_000), at(5_000), at(5_000)), (50.0, 0.4));
        // Started at the very end of the axis, or after it (clocks), or ending after it.
        for (start, stop) in [(10_000, 10_000), (12_000, 12_500), (9_990, 20_000)] {
            let (left, width) = bar(at(0), at(10_000), at(start), at(stop));
            assert!((0.0..=99.6).contains(&left), "{start}: {left}");
            assert!(
                width >= 0.4 && left + width <= 100.0 + 1e-9,
                "{start}: {left} + {width}"
            );
        }
    }
}
