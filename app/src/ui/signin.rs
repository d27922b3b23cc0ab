//! The sign-in page.

use leptos::prelude::*;

use crate::api::sign_in;
use crate::domain::Me;

#[component]
pub fn SignIn(on_signed_in: impl Fn(Me) + Clone + Send + Sync + 'static) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let on_signed_in = on_signed_in.clone();
        leptos::task::spawn_local(async move {
            match sign_in(username.get_untracked(), password.get_untracked()).await {
                Ok(me) => on_signed_in(me),
                Err(e) => {
                    error.set(Some(e.to_string()));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <main class="signin">
            <form class="card" on:submit=submit aria-labelledby="signin-title">
                <h1 id="signin-title">"Sign in to Stepwise"</h1>
                <label for="username">"User name"</label>
                <input id="username" name="username" autocomplete="username" required
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev))/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required
                    prop:value=move || password.get()
                    on:input=move |ev| password.set(event_target_value(&ev))/>
                <p class="error" role="alert">{move || error.get()}</p>
                <button type="submit" class="primary" disabled=move || busy.get()>"Sign in"</button>
            </form>
        </main>
    }
}
