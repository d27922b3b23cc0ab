//! The Tasks pane.

use leptos::prelude::*;

use crate::api::server_status;

#[component]
pub fn App() -> impl IntoView {
    let status = LocalResource::new(server_status);
    view! {
        <header class="top">
            <h1>"Stepwise"</h1>
            <p class="tagline">"Jobs and steps, live."</p>
        </header>
        <main class="page">
            <section class="card" aria-live="polite">
                <h2>"Server"</h2>
                <Suspense fallback=|| view! { <p class="muted">"Connecting…"</p> }>
                    {move || {
                        status
                            .get()
                            .map(|result| match result {
                                Ok(s) => {
                                    view! {
                                        <p data-testid="server-status">
                                            {format!("Stepwise {} · {}", s.version, s.database)}
                                        </p>
                                    }
                                        .into_any()
                                }
                                Err(e) => {
                                    view! {
                                        <p class="error" role="alert">
                                            {format!("The server could not be reached: {e}")}
                                        </p>
                                    }
                                        .into_any()
                                }
                            })
                    }}
                </Suspense>
            </section>
        </main>
    }
}
