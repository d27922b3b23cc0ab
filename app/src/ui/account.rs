//! The signed-in user's own account: their password.

use leptos::prelude::*;

use super::Note;
use crate::api::change_my_password;

#[component]
pub fn AccountPage() -> impl IntoView {
    let me = use_context::<crate::domain::Me>();
    let username = me.map(|m| m.username).unwrap_or_default();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let status = RwSignal::new(None::<Result<String, String>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if new.get_untracked() != repeat.get_untracked() {
            status.set(Some(Err(
                "The new password and its repetition differ; type it the same way twice.".into(),
            )));
            return;
        }
        busy.set(true);
        let (old, fresh) = (current.get_untracked(), new.get_untracked());
        leptos::task::spawn_local(async move {
            let answer = change_my_password(old, fresh).await;
            busy.set(false);
            status.set(Some(match answer {
                Ok(()) => {
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    Ok("Your password has been changed. Where you are signed in already, you stay signed in.".into())
                }
                Err(e) => Err(e.to_string()),
            }));
        });
    };
    view! {
        <h2>"Your account"</h2>
        <p>"Signed in as " <strong>{username}</strong> "."</p>
        <form class="card stacked-form" on:submit=submit aria-label="Change your password">
            <h3>"Change your password"</h3>
            <div class="field"><label for="current-password">"Current password"</label>
                <input id="current-password" type="password" autocomplete="current-password" required
                    prop:value=move || current.get() on:input=move |ev| current.set(event_target_value(&ev))/></div>
            <div class="field"><label for="new-password">"New password"</label>
                <input id="new-password" type="password" autocomplete="new-password" required minlength="8"
                    placeholder="At least 8 characters"
                    prop:value=move || new.get() on:input=move |ev| new.set(event_target_value(&ev))/></div>
            <div class="field"><label for="repeat-password">"New password, again"</label>
                <input id="repeat-password" type="password" autocomplete="new-password" required minlength="8"
                    prop:value=move || repeat.get() on:input=move |ev| repeat.set(event_target_value(&ev))/></div>
            <button type="submit" class="primary" prop:disabled=move || busy.get()>"Change password"</button>
        </form>
        <Note status/>
    }
}
