//! Builds the front end (ui/, with npm) and embeds ui/dist in the binary, so that one file
//! serves the UI (and, with the desktop feature, shows it in its window). Runs again only when
//! the front end's sources change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const UI_INPUTS: &[&str] = &[
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "svelte.config.js",
    "tsconfig.json",
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ui = root.join("ui");
    for input in UI_INPUTS {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=KYC_MONITOR_UI_PREBUILT");
    // Packagers that build ui/dist themselves set KYC_MONITOR_UI_PREBUILT=1.
    if std::env::var_os("KYC_MONITOR_UI_PREBUILT").is_none() {
        if dependencies_stale(&ui) {
            npm(&ui, &["ci", "--no-audit", "--no-fund"]);
        }
        npm(&ui, &["run", "build"]);
    }
    let dist = ui.join("dist");
    let mut files = Vec::new();
    collect(&dist, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("index.html")),
        "ui/dist/index.html is missing after the front-end build"
    );
    let mut table = String::from("/// The built front end: (URL path, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for file in files {
        let url = format!(
            "/{}",
            file.strip_prefix(&dist)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        );
        writeln!(
            table,
            "    ({url:?}, {:?}, include_bytes!({:?})),",
            content_type(&file),
            file.display()
        )
        .unwrap();
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui_assets.rs");
    std::fs::write(out, table).expect("write ui_assets.rs");

    // The desktop shell: reads tauri.conf.json (beside Cargo.toml) and embeds ui/dist again
    // for the window.
    #[cfg(feature = "desktop")]
    tauri_build::build();
}

/// npm records what it installed in node_modules/.package-lock.json: missing or older than the
/// lock file means the dependencies must be installed again.
fn dependencies_stale(ui: &Path) -> bool {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(ui.join("node_modules/.package-lock.json")),
        modified(ui.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

fn npm(dir: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(dir).status().unwrap_or_else(|error| {
        panic!("building the UI needs Node.js and npm ({error}); install them (Debian: apt-get install nodejs npm) or run ./scripts/test, which does")
    });
    assert!(
        status.success(),
        "`npm {}` failed in ui/ (see its output above)",
        args.join(" ")
    );
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}
