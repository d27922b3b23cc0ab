//! The wasm entry point: mounts the Tasks pane into the page's body.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::ui::App);
}
