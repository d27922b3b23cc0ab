//! A job's step tree: nested tree items, keyboard operable (arrows, Enter), live.

use leptos::prelude::*;
use uuid::Uuid;

use super::format;
use super::jobs::Progress;
use super::reload::Reloads;
use super::{ErrorNote, Outcome};
use crate::api::get_job;
use crate::domain::{Status, StepNode};

/// What the person opened in a tree: which steps are expanded or collapsed by hand, and how many
/// windows of each level (and of the timeline) are shown. A live update redraws the tree from a fresh
/// copy of the job; this keeps what the person did. A page that redraws the tree's parent too (the
/// job's detail) provides one for its own lifetime; otherwise each tree keeps its own.
#[derive(Clone, Copy)]
pub struct TreeState {
    expanded: StoredValue<std::collections::HashMap<Uuid, bool>>,
    windows: StoredValue<std::collections::HashMap<Option<Uuid>, usize>>,
    /// Windows of the timeline shown.
    pub timeline_windows: RwSignal<usize>,
    /// The step the keyboard is on: a redraw replaces its row, and the new row takes the focus back.
    focused: StoredValue<Option<Uuid>>,
}

impl TreeState {
    pub fn new() -> TreeState {
        TreeState {
            expanded: StoredValue::new(Default::default()),
            windows: StoredValue::new(Default::default()),
            timeline_windows: RwSignal::new(1),
            focused: StoredValue::new(None),
        }
    }

    /// The one provided above, or a new one.
    fn here() -> TreeState {
        use_context::<TreeState>().unwrap_or_else(|| {
            let state = TreeState::new();
            provide_context(state);
            state
        })
    }
}

impl Default for TreeState {
    fn default() -> Self {
        TreeState::new()
    }
}

/// The steps of `job_id`, reloaded when `refresh` changes (the reads coalesced, see `Reloads`).
#[component]
pub fn StepTree(job_id: Uuid, refresh: Signal<u32>, level: u32) -> impl IntoView {
    let _ = TreeState::here();
    let reloads = Reloads::new();
    Effect::new(move |seen: Option<u32>| {
        let n = refresh.get();
        if seen.is_some_and(|seen| seen != n) {
            reloads.ask();
        }
        n
    });
    let job = LocalResource::new(move || {
        reloads.track();
        async move {
            let read = get_job(job_id).await;
            reloads.answered();
            read
        }
    });
    // Keep showing the last tree while a new one loads: no flicker, no layout jump.
    let shown = RwSignal::new(None::<Vec<StepNode>>);
    let error = RwSignal::new(None::<crate::api::AppError>);
    Effect::new(move |_| match job.get() {
        Some(Ok(j)) => shown.set(Some(j.steps.unwrap_or_default())),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let loaded = Memo::new(move |_| shown.with(|s| s.is_some()));
    let nodes = Memo::new(move |_| shown.get().unwrap_or_default());
    // Only tree items inside the tree's lists: what says where the steps are is beside them.
    view! {
        {move || error.get().map(|e| view! { <ErrorNote error=e/> })}
        <Show when=move || loaded.get()
            fallback=|| view! { <p class="placeholder" aria-busy="true">"Loading steps…"</p> }>
            <TopSteps nodes=nodes.into() level label=None/>
        </Show>
    }
}

/// A job's top-level steps, following `nodes` as fresh copies of the job arrive (the job's detail
/// has them with the job itself, and would otherwise fetch the whole tree twice more on every
/// change). With a `label` they are a tree of their own; without, a group in the job's tree item.
#[component]
pub fn TopSteps(
    nodes: Signal<Vec<StepNode>>,
    level: u32,
    label: Option<&'static str>,
) -> impl IntoView {
    let empty = Memo::new(move |_| nodes.with(|n| n.is_empty()));
    view! {
        <Show when=move || !empty.get()
            fallback=|| view! { <p class="placeholder">"No steps yet."</p> }>
            <StepItems nodes level parent=None label/>
        </Show>
    }
}

/// Steps shown at first on one level, and added by each "Show more": a job may hold 100,000 steps
/// on one level, and all of them at once took the browser a minute and a half and 1.6 million nodes.
pub const STEPS_PER_WINDOW: usize = 200;

/// The steps of one level, the first [`STEPS_PER_WINDOW`] of them, then more on request. Each row
/// is keyed by its step and follows that step's node: a fresh copy of the job (a live update)
/// changes the rows in place. Drawn again whole on every update, a busy job's rows and buttons were
/// replaced several times a second — a click whose press and release fell on two different copies
/// of a button did nothing. The list holds tree items only; "Show more" follows it. With a `label`
/// the list is a tree (a job's page), otherwise a group of the tree item above.
#[component]
fn StepItems(
    nodes: Signal<Vec<StepNode>>,
    level: u32,
    parent: Option<Uuid>,
    label: Option<&'static str>,
) -> impl IntoView {
    let state = TreeState::here();
    let total = Memo::new(move |_| nodes.with(|n| n.len()));
    let windows = RwSignal::new(
        state
            .windows
            .with_value(|w| w.get(&parent).copied().unwrap_or(1)),
    );
    let more = move |_| {
        windows.update(|w| *w += 1);
        let n = windows.get_untracked();
        state.windows.update_value(|w| {
            w.insert(parent, n);
        });
    };
    let shown = move || (windows.get() * STEPS_PER_WINDOW).min(total.get());
    // The shown steps' ids with their places. Steps are only ever added after their siblings, so a
    // step keeps its place from one copy of the job to the next.
    let rows = move || {
        let n = shown();
        nodes.with(|all| {
            all[..n.min(all.len())]
                .iter()
                .enumerate()
                .map(|(i, node)| (i, node.step.id))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <ul role=if label.is_some() { "tree" } else { "group" } aria-label=label class="steps">
        <For each=rows key=|(_, id)| *id let:((place, id))>
            {
                let first = nodes.with_untracked(|all| all.get(place).cloned());
                let node = Memo::new(move |previous: Option<&Option<StepNode>>| {
                    nodes
                        .with(|all| {
                            all.get(place)
                                .filter(|n| n.step.id == id)
                                .or_else(|| all.iter().find(|n| n.step.id == id))
                                .cloned()
                        })
                        .or_else(|| previous.cloned().flatten())
                        .or_else(|| first.clone())
                });
                view! { <StepItem node level/> }
            }
        </For>
        </ul>
        <Show when=move || shown() < total.get()>
            <p class="more" data-testid="more-steps">
                <button type="button" on:click=more>{move || show_more(shown(), total.get())}</button>
                <span class="muted">{move || format!(" — {} steps shown", of(shown(), total.get()))}</span>
            </p>
        </Show>
    }
}

/// The label of a "Show more" button: `Show 200 more`, or fewer at the end.
pub fn show_more(shown: usize, total: usize) -> String {
    format!(
        "Show {} more",
        format::count(total.saturating_sub(shown).min(STEPS_PER_WINDOW))
    )
}

/// `200 of 100,000`.
pub fn of(shown: usize, total: usize) -> String {
    format!("{} of {}", format::count(shown), format::count(total))
}

/// A step with at most this many sub-steps shows them at once; a bigger one starts collapsed, so that
/// opening a job with thousands of steps renders only what the person asked to see.
const AUTO_EXPAND_CHILDREN: usize = 25;

/// One step and, expanded, its sub-steps (rendered only while expanded), following the step's node.
#[component]
fn StepItem(node: Memo<Option<StepNode>>, level: u32) -> impl IntoView {
    let state = TreeState::here();
    let (id, description, start, many) = node.with_untracked(|n| {
        n.as_ref()
            .map_or((Uuid::nil(), String::new(), None, false), |n| {
                (
                    n.step.id,
                    n.step.description.clone(),
                    Some(n.step.start_time),
                    n.children.len() > AUTO_EXPAND_CHILDREN,
                )
            })
    });
    let start = start.unwrap_or_default();
    let step = Memo::new(move |_| node.with(|n| n.as_ref().map(|n| n.step.clone())));
    let children = Memo::new(move |_| {
        node.with(|n| n.as_ref().map(|n| n.children.clone()).unwrap_or_default())
    });
    let has_children = Memo::new(move |_| children.with(|c| !c.is_empty()));
    let expanded = RwSignal::new(
        state
            .expanded
            .with_value(|e| e.get(&id).copied())
            .unwrap_or(!many),
    );
    let toggle = move || {
        if has_children.get_untracked() {
            expanded.update(|e| *e = !*e);
            let now = expanded.get_untracked();
            state.expanded.update_value(|e| {
                e.insert(id, now);
            });
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let parent = has_children.get_untracked();
        match ev.key().as_str() {
            "ArrowRight" if parent && !expanded.get_untracked() => toggle(),
            "ArrowLeft" if expanded.get_untracked() && parent => toggle(),
            "Enter" | " " => toggle(),
            "ArrowDown" | "ArrowUp" => focus_sibling(&ev, ev.key() == "ArrowDown"),
            _ => return,
        }
        ev.prevent_default();
        ev.stop_propagation();
    };
    let status =
        move || format::status(step.with(|s| s.as_ref().map_or(Status::Unknown, |s| s.status)));
    let end = move || step.with(|s| s.as_ref().and_then(|s| s.end_time));
    let step_type = move || step.with(|s| s.as_ref().map_or("", |s| s.step_type.as_str()));
    let progress = move || step.with(|s| s.as_ref().and_then(|s| s.progress));
    let result = Memo::new(move |_| step.with(|s| s.as_ref().and_then(|s| s.result.clone())));
    let now = super::live::use_now();
    // A live update draws the tree again: the row the keyboard was on is replaced, and the focus
    // would fall to the page. Its successor takes it back, unless the person has since put the
    // focus somewhere else (a blur towards another element forgets the step).
    let row = NodeRef::<leptos::html::Li>::new();
    Effect::new(move |_| {
        if state.focused.get_value() == Some(id) {
            refocus(row);
        }
    });
    let on_focus = move |_| state.focused.set_value(Some(id));
    let on_blur = move |ev: leptos::ev::FocusEvent| {
        if ev.related_target().is_some() {
            state.focused.update_value(|f| {
                if *f == Some(id) {
                    *f = None;
                }
            });
        }
    };
    view! {
        <li role="treeitem" prop:ariaLevel=level.to_string()
            aria-expanded=move || has_children.get().then(|| expanded.get().to_string())
            tabindex="-1" class="step" data-testid="step-row" node_ref=row
            on:keydown=on_key on:focus=on_focus on:blur=on_blur>
            <div class="row" style=format!("--depth: {}", level - 1)>
                {move || if has_children.get() {
                    view! {
                        <button type="button" class="expander" tabindex="-1"
                            aria-label=move || if expanded.get() { "Collapse" } else { "Expand" }
                            on:click=move |_| toggle()>
                            {move || if expanded.get() { "▾" } else { "▸" }}
                        </button>
                    }.into_any()
                } else {
                    view! { <span class="expander" aria-hidden="true">"·"</span> }.into_any()
                }}
                <span class=move || format!("status {}", status().2) title=move || status().1>
                    <span aria-hidden="true">{move || status().0}</span>" "{move || status().1}
                </span>
                <span class="desc" title=description.clone()>{description.clone()}</span>
                <span class="type">{step_type}</span>
                <span class="kind"></span>
                <span class="time start">{format::time(start)}</span>
                <span class="time end">{move || end().map(format::time).unwrap_or_else(|| "—".into())}</span>
                <span class="time dur">{move || format::duration(start, end().unwrap_or_else(|| now.get()))}</span>
                {move || view! { <Progress value=progress()/> }}
            </div>
            // What the step reported as it ended (an internal command's outcome, or why it failed).
            {move || result.get().map(|text| view! {
                <div class="step-outcome" style=format!("--depth: {}", level - 1) data-testid="step-outcome">
                    <Outcome text/>
                </div>
            })}
            <Show when=move || has_children.get() && expanded.get()>
                <StepItems nodes=children.into() level=level + 1 parent=Some(id) label=None/>
            </Show>
        </li>
    }
    .into_any()
}

/// Focus `row` if the focus has fallen to the page (nothing else holds it).
fn refocus(row: NodeRef<leptos::html::Li>) {
    #[cfg(feature = "csr")]
    if let Some(el) = row.get() {
        let lost = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element())
            .is_none_or(|a| a.tag_name() == "BODY");
        if lost {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "csr"))]
    let _ = row;
}

/// Move focus to the next or previous visible tree item.
pub fn focus_sibling(ev: &leptos::ev::KeyboardEvent, down: bool) {
    #[cfg(feature = "csr")]
    {
        use wasm_bindgen::JsCast;
        let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        let Ok(items) = doc.query_selector_all("[role=treeitem]") else {
            return;
        };
        let current = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let mut list = Vec::new();
        for i in 0..items.length() {
            if let Some(el) = items
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            {
                // Only items that are shown (an ancestor may be collapsed).
                if el.offset_parent().is_some() {
                    list.push(el);
                }
            }
        }
        let Some(current) = current else { return };
        let Some(pos) = list.iter().position(|el| {
            let el: &web_sys::Element = el.as_ref();
            el == &current
        }) else {
            return;
        };
        let next = if down { pos + 1 } else { pos.wrapping_sub(1) };
        if let Some(el) = list.get(next) {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "csr"))]
    let _ = (ev, down);
}
