//! A job's step tree: nested tree items, keyboard operable (arrows, Enter), live.

use leptos::prelude::*;
use uuid::Uuid;

use super::format;
use super::jobs::Progress;
use super::ErrorNote;
use crate::api::get_job;
use crate::domain::StepNode;

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

/// The steps of `job_id`, reloaded whenever `refresh` changes.
#[component]
pub fn StepTree(job_id: Uuid, refresh: Signal<u32>, level: u32) -> impl IntoView {
    let _ = TreeState::here();
    let job = LocalResource::new(move || {
        let _ = refresh.get();
        async move { get_job(job_id).await }
    });
    // Keep showing the last tree while a new one loads: no flicker, no layout jump.
    let shown = RwSignal::new(None::<Vec<StepNode>>);
    let error = RwSignal::new(None::<crate::api::AppError>);
    Effect::new(move |_| match job.get() {
        Some(Ok(j)) => shown.set(Some(j.steps.unwrap_or_default())),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    view! {
        <ul role="group" class="steps">
            {move || error.get().map(|e| view! { <li><ErrorNote error=e/></li> })}
            {move || match shown.get() {
                None => view! { <li class="placeholder" aria-busy="true">"Loading steps…"</li> }.into_any(),
                Some(nodes) => view! { <TopSteps nodes level/> }.into_any(),
            }}
        </ul>
    }
}

/// A job's top-level steps, already loaded (the job's detail has them with the job itself, and
/// would otherwise fetch the whole tree twice more on every change).
#[component]
pub fn TopSteps(nodes: Vec<StepNode>, level: u32) -> impl IntoView {
    if nodes.is_empty() {
        view! { <li class="placeholder">"No steps yet."</li> }.into_any()
    } else {
        view! { <StepItems nodes level parent=None/> }.into_any()
    }
}

/// Steps shown at first on one level, and added by each "Show more": a job may hold 100,000 steps
/// on one level, and all of them at once took the browser a minute and a half and 1.6 million nodes.
pub const STEPS_PER_WINDOW: usize = 200;

/// The steps of one level, the first [`STEPS_PER_WINDOW`] of them, then more on request. Shown
/// windows stay as they are (expanded steps stay expanded) when another is added.
#[component]
fn StepItems(nodes: Vec<StepNode>, level: u32, parent: Option<Uuid>) -> impl IntoView {
    let state = TreeState::here();
    let total = nodes.len();
    let nodes = StoredValue::new(nodes);
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
    let shown = move || (windows.get() * STEPS_PER_WINDOW).min(total);
    view! {
        <For each=move || 0..total.div_ceil(STEPS_PER_WINDOW).min(windows.get()) key=|w| *w let:w>
            {nodes.with_value(|all| {
                all[w * STEPS_PER_WINDOW..((w + 1) * STEPS_PER_WINDOW).min(total)]
                    .iter()
                    .cloned()
                    .map(|node| view! { <StepItem node level/> }.into_any())
                    .collect_view()
            })}
        </For>
        <Show when=move || shown() < total>
            <li class="more" data-testid="more-steps">
                <button type="button" on:click=more>{move || show_more(shown(), total)}</button>
                <span class="muted">{move || format!(" — {} steps shown", of(shown(), total))}</span>
            </li>
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

/// One step and, expanded, its sub-steps (rendered only while expanded).
#[component]
fn StepItem(node: StepNode, level: u32) -> impl IntoView {
    let state = TreeState::here();
    let id = node.step.id;
    let has_children = !node.children.is_empty();
    let expanded = RwSignal::new(
        state
            .expanded
            .with_value(|e| e.get(&id).copied())
            .unwrap_or(node.children.len() <= AUTO_EXPAND_CHILDREN),
    );
    let toggle = move || {
        if has_children {
            expanded.update(|e| *e = !*e);
            let now = expanded.get_untracked();
            state.expanded.update_value(|e| {
                e.insert(id, now);
            });
        }
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        match ev.key().as_str() {
            "ArrowRight" if has_children && !expanded.get_untracked() => toggle(),
            "ArrowLeft" if expanded.get_untracked() && has_children => toggle(),
            "Enter" | " " => toggle(),
            "ArrowDown" | "ArrowUp" => focus_sibling(&ev, ev.key() == "ArrowDown"),
            _ => return,
        }
        ev.prevent_default();
        ev.stop_propagation();
    };
    let step = node.step;
    let (icon, word, class) = format::status(step.status);
    let end = step.end_time;
    let start = step.start_time;
    let children = node.children;
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
            aria-expanded=move || has_children.then(|| expanded.get().to_string())
            tabindex="-1" class="step" data-testid="step-row" node_ref=row
            on:keydown=on_key on:focus=on_focus on:blur=on_blur>
            <div class="row" style=format!("--depth: {}", level - 1)>
                {if has_children {
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
                <span class=format!("status {class}") title=word><span aria-hidden="true">{icon}</span>" "{word}</span>
                <span class="desc" title=step.description.clone()>{step.description.clone()}</span>
                <span class="type">{step.step_type.as_str()}</span>
                <span class="kind"></span>
                <span class="time start">{format::time(start)}</span>
                <span class="time end">{end.map(format::time).unwrap_or_else(|| "—".into())}</span>
                <span class="time dur">{move || format::duration(start, end.unwrap_or_else(|| now.get()))}</span>
                <Progress value=step.progress/>
            </div>
            <Show when=move || has_children && expanded.get()>
                <ul role="group" class="steps">
                    <StepItems nodes=children.clone() level=level + 1 parent=Some(id)/>
                </ul>
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
