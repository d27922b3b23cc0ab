//! A job's step tree: nested tree items, keyboard operable (arrows, Enter), live.

use leptos::prelude::*;
use uuid::Uuid;

use super::format;
use super::jobs::Progress;
use super::ErrorNote;
use crate::api::get_job;
use crate::domain::StepNode;

/// The steps of `job_id`, reloaded whenever `refresh` changes.
#[component]
pub fn StepTree(job_id: Uuid, refresh: Signal<u32>, level: u32) -> impl IntoView {
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
                Some(nodes) if nodes.is_empty() => view! { <li class="placeholder">"No steps yet."</li> }.into_any(),
                Some(nodes) => nodes
                    .into_iter()
                    .map(|node| view! { <StepItem node level/> })
                    .collect_view()
                    .into_any(),
            }}
        </ul>
    }
}

/// A step with at most this many sub-steps shows them at once; a bigger one starts collapsed, so that
/// opening a job with thousands of steps renders only what the person asked to see.
const AUTO_EXPAND_CHILDREN: usize = 25;

/// One step and, expanded, its sub-steps (rendered only while expanded).
#[component]
fn StepItem(node: StepNode, level: u32) -> impl IntoView {
    let has_children = !node.children.is_empty();
    let expanded = RwSignal::new(node.children.len() <= AUTO_EXPAND_CHILDREN);
    let toggle = move || {
        if has_children {
            expanded.update(|e| *e = !*e)
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
    view! {
        <li role="treeitem" prop:ariaLevel=level.to_string()
            aria-expanded=move || has_children.then(|| expanded.get().to_string())
            tabindex="-1" class="step" data-testid="step-row" on:keydown=on_key>
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
                <span class="desc">{step.description}</span>
                <span class="type">{step.step_type.as_str()}</span>
                <span class="kind"></span>
                <span class="time start">{format::time(start)}</span>
                <span class="time end">{end.map(format::time).unwrap_or_else(|| "—".into())}</span>
                <span class="time dur">{move || format::duration(start, end.unwrap_or_else(|| now.get()))}</span>
                <Progress value=step.progress/>
            </div>
            <Show when=move || has_children && expanded.get()>
                <ul role="group" class="steps">
                    {children
                        .clone()
                        .into_iter()
                        .map(|child| view! { <StepItem node=child level=level + 1/> }.into_any())
                        .collect_view()}
                </ul>
            </Show>
        </li>
    }
    .into_any()
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
