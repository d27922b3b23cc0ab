//! The Tasks pane: sign-in, the jobs list with live updates and step trees, a job's detail with its
//! timeline, and the administration pages.

mod account;
mod admin;
mod bulk;
mod detail;
mod format;
mod jobs;
mod live;
mod reload;
mod settings;
mod signin;
mod tree;

use leptos::prelude::*;
use leptos_router::components::{Redirect, Route, Router, Routes, A};
use leptos_router::path;

use crate::api::{current_user, sign_out};
use crate::domain::{ActionGroup, Me};

/// The signed-in user, for every page.
pub fn use_me() -> Me {
    expect_context::<Me>()
}

#[component]
pub fn App() -> impl IntoView {
    let me = LocalResource::new(current_user);
    let (signed_in, set_signed_in) = signal(None::<Me>);
    // No `Suspense` around the app: a resource read anywhere below one (a step tree, a job's
    // detail) sends it back to its fallback while the resource loads, and every live update took
    // the whole page out of the document and put it back — the page scrolled to the top and the
    // keyboard focus was lost. Until the user is known, the match below shows the same placeholder.
    view! {
        <Router>
                {move || {
                    let who = signed_in.get().or_else(|| me.get().and_then(|r| r.ok()).flatten());
                    match (who, me.get()) {
                        (Some(me), _) => view! { <Shell me/> }.into_any(),
                        (None, Some(Err(e))) => {
                            view! {
                                <main class="page">
                                    <h1>"Stepwise"</h1>
                                    <p class="error" role="alert">{e.to_string()}</p>
                                </main>
                            }
                                .into_any()
                        }
                        (None, Some(Ok(None))) => {
                            view! { <signin::SignIn on_signed_in=move |me| set_signed_in.set(Some(me))/> }
                                .into_any()
                        }
                        _ => view! { <div class="boot" aria-busy="true">"Loading Stepwise…"</div> }.into_any(),
                    }
                }}
        </Router>
    }
}

/// The signed-in frame: header with navigation, connection state and the user; the routed page.
#[component]
fn Shell(me: Me) -> impl IntoView {
    provide_context(me.clone());
    live::provide_live();
    live::provide_clock();
    let admin = me.can(ActionGroup::ManageUsers);
    let manages_tasks = me.can(ActionGroup::ManageTasks);
    let do_sign_out = move |_| {
        leptos::task::spawn_local(async move {
            let _ = sign_out().await;
            reload_to("/");
        });
    };
    // "Skip to content": the first stop of the Tab key, shown only when focused, so a keyboard user
    // reaches the page past the navigation in one key. It focuses the page itself rather than
    // following `#content`, which the router would take for a route.
    let content = NodeRef::<leptos::html::Main>::new();
    let skip = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        if let Some(main) = content.get() {
            let _ = main.focus();
        }
    };
    view! {
        <a class="skip" href="#content" on:click=skip>"Skip to content"</a>
        <header class="top">
            <h1>"Stepwise"</h1>
            <nav aria-label="Main">
                <A href="/">"Tasks"</A>
                <Show when=move || admin>
                    <A href="/admin/users">"Users"</A>
                    <A href="/admin/roles">"Roles"</A>
                    <A href="/admin/tokens">"API tokens"</A>
                    <A href="/admin/audit">"Audit log"</A>
                </Show>
                <Show when=move || manages_tasks>
                    <A href="/settings">"Settings"</A>
                </Show>
            </nav>
            <span class="spacer"></span>
            <live::ConnectionBadge/>
            <A href="/account" attr:class="who" attr:title="Your account" attr:data-testid="signed-in-user">{me.username.clone()}</A>
            <button type="button" class="link" on:click=do_sign_out>"Sign out"</button>
        </header>
        <main class="page" id="content" tabindex="-1" node_ref=content>
            <Routes fallback=|| view! {
                <p data-testid="no-such-page">"There is no such page. "<a href="/">"Go to the jobs"</a>"."</p>
            }>
                <Route path=path!("/") view=jobs::JobsPage/>
                <Route path=path!("/jobs/:id") view=detail::JobDetail/>
                <Route path=path!("/admin/users") view=admin::UsersPage/>
                <Route path=path!("/admin/roles") view=admin::RolesPage/>
                <Route path=path!("/admin/tokens") view=admin::TokensPage/>
                <Route path=path!("/admin/audit") view=admin::AuditPage/>
                <Route path=path!("/account") view=account::AccountPage/>
                <Route path=path!("/settings") view=settings::SettingsPage/>
                // Addresses people type from the navigation's words lead to its pages.
                <Route path=path!("/jobs") view=|| view! { <Redirect path="/"/> }/>
                <Route path=path!("/tasks") view=|| view! { <Redirect path="/"/> }/>
                <Route path=path!("/users") view=|| view! { <Redirect path="/admin/users"/> }/>
                <Route path=path!("/roles") view=|| view! { <Redirect path="/admin/roles"/> }/>
                <Route path=path!("/tokens") view=|| view! { <Redirect path="/admin/tokens"/> }/>
                <Route path=path!("/audit") view=|| view! { <Redirect path="/admin/audit"/> }/>
            </Routes>
        </main>
    }
}

/// Leave the app for `href` with a full page load (after sign-in or sign-out).
pub fn reload_to(href: &str) {
    #[cfg(feature = "csr")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(href);
    }
    #[cfg(not(feature = "csr"))]
    let _ = href;
}

/// The outcome of an action, in words: a status on success, an alert on refusal.
#[component]
pub fn Note(status: RwSignal<Option<Result<String, String>>>) -> impl IntoView {
    move || {
        status.get().map(|m| match m {
            Ok(text) => view! { <p class="ok" role="status">{text}</p> }.into_any(),
            Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
        })
    }
}

/// An error from the server, in words; a lost session sends the person to sign in again.
#[component]
pub fn ErrorNote(error: crate::api::AppError) -> impl IntoView {
    if error.is_unauthorized() {
        reload_to("/");
    }
    view! { <p class="error" role="alert">{error.to_string()}</p> }
}

/// What a job or step reports about how it went (a command's counts, why it failed), with an
/// export's file offered as a download link.
#[component]
pub fn Outcome(text: String) -> impl IntoView {
    format::outcome(&text)
        .into_iter()
        .map(|piece| match piece {
            format::Piece::Text(t) => view! { <span>{t}</span> }.into_any(),
            format::Piece::Download(href) => view! {
                " "<a class="download" href=href download="">"Download the file"</a>
            }
            .into_any(),
        })
        .collect_view()
}
