//! Settings: how long auto-cleared jobs are kept after they end, and how often the engine looks.

use leptos::prelude::*;

use super::{format, use_me, ErrorNote, Note};
use crate::api::{kept_for, reset_retention_settings, retention_settings, set_retention_settings};
use crate::domain::{ActionGroup, KeptFor, Retention, RetentionSource};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let may_change = use_me().can(ActionGroup::ManageTasks);
    let reload = RwSignal::new(0u32);
    let settings = LocalResource::new(move || {
        let _ = reload.get();
        retention_settings()
    });
    let status = RwSignal::new(None::<Result<String, String>>);
    view! {
        <h2>"Settings"</h2>
        <Transition fallback=|| view! { <p aria-busy="true">"Loading the settings…"</p> }>
            {move || settings.get().map(|r| match r {
                Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                Ok(current) => view! { <RetentionForm current may_change status reload/> }.into_any(),
            })}
        </Transition>
        <Note status/>
        <KeptForCard/>
    }
}

/// How long the server keeps events, audit records and exports: its configuration, shown.
#[component]
fn KeptForCard() -> impl IntoView {
    let figures = LocalResource::new(kept_for);
    view! {
        <section class="card kept-for" aria-labelledby="kept-for-title">
            <h3 id="kept-for-title">"Kept by the server"</h3>
            <Transition fallback=|| view! { <p aria-busy="true">"Loading…"</p> }>
                {move || figures.get().map(|r| match r {
                    Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    Ok(KeptFor { events_hours, audit_days, exports_hours }) => view! {
                        <dl>
                            <dt>"Live events"</dt>
                            <dd>{format::amount(events_hours, "hour")}
                                <span class="muted">" — a Tasks pane away longer reloads what it shows"</span></dd>
                            <dt>"Audit log"</dt><dd>{format::amount(audit_days, "day")}</dd>
                            <dt>"Exported files"</dt>
                            <dd>{format::amount(exports_hours, "hour")}
                                <span class="muted">" — then the file is deleted"</span></dd>
                        </dl>
                        <p class="muted">"From the server's configuration (STEPWISE_EVENT_RETENTION_HOURS, \
                            STEPWISE_AUDIT_RETENTION_DAYS, STEPWISE_EXPORT_RETENTION_HOURS)."</p>
                    }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// The three figures, editable for those who manage tasks.
#[component]
fn RetentionForm(
    current: Retention,
    may_change: bool,
    status: RwSignal<Option<Result<String, String>>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let finished = RwSignal::new(current.finished_minutes.to_string());
    let unsuccessful = RwSignal::new(current.unsuccessful_minutes.to_string());
    let interval = RwSignal::new(current.interval_seconds.to_string());
    let busy = RwSignal::new(false);
    let stored = current.source == RetentionSource::Stored;
    let origin = match (current.source, current.updated_at, current.updated_by) {
        (RetentionSource::Stored, Some(at), Some(by)) => {
            format!(
                "Set by {by} on {}, for every Stepwise server on this database.",
                format::time(at)
            )
        }
        _ => "From the server's configuration (STEPWISE_RETENTION_* settings).".to_owned(),
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let read = |text: String, what: &str| {
            text.trim()
                .parse::<i32>()
                .map_err(|_| format!("{what} must be a whole number."))
        };
        let figures = (|| {
            Ok::<_, String>((
                read(finished.get_untracked(), "How long finished jobs are kept")?,
                read(
                    unsuccessful.get_untracked(),
                    "How long failed or aborted jobs are kept",
                )?,
                read(interval.get_untracked(), "How often the engine looks")?,
            ))
        })();
        let (f, u, i) = match figures {
            Ok(figures) => figures,
            Err(message) => {
                status.set(Some(Err(message)));
                return;
            }
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = set_retention_settings(f, u, i).await;
            busy.set(false);
            status.set(Some(match answer {
                Ok(_) => {
                    reload.update(|n| *n += 1);
                    Ok("Saved. The engine's next retention pass uses these settings.".into())
                }
                Err(e) => Err(e.to_string()),
            }));
        });
    };
    let reset = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let answer = reset_retention_settings().await;
            busy.set(false);
            status.set(Some(match answer {
                Ok(_) => {
                    reload.update(|n| *n += 1);
                    Ok("Back to the server's configuration.".into())
                }
                Err(e) => Err(e.to_string()),
            }));
        });
    };
    let number = move |id: &'static str,
                       label: &'static str,
                       unit: &'static str,
                       min: i32,
                       max: i32,
                       value: RwSignal<String>| {
        view! {
            <div class="field"><label for=id>{label}</label>
                <span class="with-unit">
                    <input id=id type="number" inputmode="numeric" required step="1"
                        min=min.to_string() max=max.to_string() prop:disabled=!may_change
                        prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                    <span class="muted">{unit}</span>
                </span>
            </div>
        }
    };
    view! {
        <form class="card stacked-form wide" on:submit=save aria-label="Retention of auto-cleared jobs">
            <h3>"Retention of auto-cleared jobs"</h3>
            <p class="muted">"A job added with auto-clear is deleted, with its steps, this long after it ends. \
                Other jobs stay until someone clears them or runs a cleanup."</p>
            {number("retention-finished", "Keep finished jobs for", "minutes", 0,
                crate::domain::MAX_RETENTION_MINUTES, finished)}
            {number("retention-unsuccessful", "Keep failed or aborted jobs for", "minutes", 0,
                crate::domain::MAX_RETENTION_MINUTES, unsuccessful)}
            {number("retention-interval", "Look for jobs to delete every", "seconds", 1,
                crate::domain::MAX_RETENTION_INTERVAL_SECONDS, interval)}
            <p class="muted" data-testid="retention-source">{origin}</p>
            {if may_change {
                view! {
                    <div class="actions">
                        <button type="submit" class="primary" prop:disabled=move || busy.get()>"Save"</button>
                        // Always there (disabled while nothing is stored), so saving moves nothing.
                        <button type="button" on:click=reset prop:disabled=move || busy.get() || !stored>
                            "Use the server's configuration"
                        </button>
                    </div>
                }.into_any()
            } else {
                view! { <p class="muted">"Changing these needs the MANAGE_TASKS permission."</p> }.into_any()
            }}
        </form>
    }
}
