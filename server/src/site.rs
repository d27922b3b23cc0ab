//! The built UI: static files, and `index.html` for every client-side route.

use std::path::{Path, PathBuf};

use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

/// Check that `root` holds a built UI.
pub fn check(root: &Path) -> anyhow::Result<PathBuf> {
    let index = root.join("index.html");
    if !index.is_file() {
        anyhow::bail!(
            "the site root {} has no index.html; build the UI first (scripts/run.sh does) or set STEPWISE_SITE_ROOT",
            root.display()
        );
    }
    Ok(index)
}

/// Serve `root`, falling back to its `index.html`.
pub fn serve(router: Router, root: &Path, index: PathBuf) -> Router {
    router.fallback_service(ServeDir::new(root).fallback(ServeFile::new(index)))
}
