//! Each operation is declared once (`monitor/operations.rs`), and nothing answers without a
//! declaration: every route of the UI API and every desktop command is one of the table's, each
//! declared route answers at its path and method on a running monitor, and a path or method the
//! table does not hold is refused.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kyc_monitor::monitor::operations::{specs, Method, DESKTOP_ONLY};
use support::{client, send, Monitor, Scratch};

fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).expect("read the sources") {
            let path = entry.expect("a source entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source file");
                found.push((path, text));
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/src"),
        &mut found,
    );
    found
}

/// The names of the functions marked `#[tauri::command]`.
fn tauri_commands(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[tauri::command]" {
            continue;
        }
        let signature = lines
            .by_ref()
            .find(|line| line.contains("fn "))
            .expect("a function after #[tauri::command]");
        let name = signature.split("fn ").nth(1).expect("fn NAME");
        names.push(name.split(['(', '<']).next().unwrap().trim().to_owned());
    }
    names
}

#[test]
fn every_desktop_command_and_ui_route_comes_from_a_declaration() {
    let declared: BTreeSet<String> = DESKTOP_ONLY
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let mut commands = BTreeSet::new();
    let mut registered = BTreeSet::new();
    for (path, text) in sources() {
        commands.extend(tauri_commands(&text));
        if let Some(start) = text.find("generate_handler![") {
            let list = &text[start + "generate_handler![".len()..];
            let list = &list[..list.find(']').expect("the handler list ends")];
            registered.extend(
                list.split(',')
                    .map(|item| item.trim().rsplit("::").next().unwrap().to_owned())
                    .filter(|name| !name.is_empty()),
            );
        }
        // An API route is made from the table: no route of the UI API names its own path, but
        // the one that refuses unknown paths (the sign-in pages under /auth/ are not the API).
        if path.components().any(|part| part.as_os_str() == "api") {
            for (at, _) in text.match_indices(".route(") {
                let rest = &text[at + ".route(".len()..];
                let first = rest[..rest.find(',').unwrap_or(rest.len())].trim();
                // A constant's value, where the route names one.
                let value = text
                    .split(&format!("const {first}: &str = \""))
                    .nth(1)
                    .map(|after| &after[..after.find('"').unwrap()]);
                let literal = value.unwrap_or(first.trim_matches('"'));
                assert!(
                    literal == "/api/{*rest}"
                        || literal.starts_with("/auth/")
                        // A path the table gives: `Op::SPEC.path`, or `http_only`'s.
                        || first == "Op::SPEC.path"
                        || (first.ends_with("_path") && value.is_none()),
                    "{} routes {first} by hand: declare it in monitor/operations.rs",
                    path.display()
                );
            }
        }
    }
    assert_eq!(
        commands, declared,
        "every #[tauri::command] is declared in operations::DESKTOP_ONLY, and only those"
    );
    assert_eq!(
        registered, declared,
        "generate_handler! registers exactly the declared commands"
    );
}

/// A declared route's address, its parameters filled in.
fn address(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{status}", "OPEN")
        .replace("{externalId}", "someone")
}

#[tokio::test]
async fn every_declared_route_answers_at_its_method_and_nothing_else_does() {
    let scratch = Scratch::new();
    let mut monitor = Monitor::start_with(
        &scratch.db(),
        true,
        &[],
        &mut std::process::Command::new(env!("CARGO_BIN_EXE_kyc-monitor")),
    );
    let (base, mut token) = monitor.ui();
    for spec in specs() {
        let url = format!("{base}{}", address(spec.path));
        let answer = match spec.method {
            // The live feed streams until the monitor stops: its answer's head says enough.
            Method::Get if spec.name == "feed" => {
                let response = client().get(&url).bearer_auth(&token).send().await.unwrap();
                assert_eq!(response.status(), 200, "the feed answers");
                assert_eq!(response.headers()["content-type"], "text/event-stream");
                continue;
            }
            Method::Get => send(client().get(&url).bearer_auth(&token)).await,
            // A body the route cannot take: the declared handler refuses it before doing
            // anything, which shows that it is the one answering.
            Method::Post => {
                send(
                    client()
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "text/plain")
                        .body("not json"),
                )
                .await
            }
        };
        // A CSV or another answer that is not JSON is not the router's refusal either.
        let said = serde_json::from_str::<serde_json::Value>(&answer.body)
            .map(|body| body["message"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        assert!(
            !said.contains("no such API route") && answer.status != 405,
            "{} {} is declared but not routed: {} {}",
            spec.method.as_str(),
            spec.path,
            answer.status,
            answer.body
        );
        if spec.name == "ui_link" {
            // It made a new token (and the old one stopped working).
            let url = answer.json()["url"].as_str().unwrap().to_owned();
            token = url.split_once("?token=").unwrap().1.to_owned();
        }
        // The method the table does not declare for this path is refused.
        let other = match spec.method {
            Method::Get => client().delete(&url),
            Method::Post => client().put(&url),
        };
        let answer = send(other.bearer_auth(&token)).await;
        assert_eq!(answer.status, 405, "{}: {}", spec.path, answer.body);
        assert_eq!(answer.json()["code"], "invalid");
    }
    let answer = send(
        client()
            .get(format!("{base}/api/undeclared"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["code"], "notFound");
    monitor.terminate();
}

#[test]
fn the_table_names_each_operation_and_route_once() {
    let mut names = BTreeSet::new();
    let mut routes = BTreeSet::new();
    for spec in specs() {
        assert!(names.insert(spec.name), "{} is declared twice", spec.name);
        assert!(
            routes.insert((spec.method.as_str(), spec.path)),
            "{} {} is declared twice",
            spec.method.as_str(),
            spec.path
        );
        assert!(
            spec.path.starts_with("/api/"),
            "{} is outside /api/",
            spec.path
        );
        assert!(
            !spec.doc.trim().is_empty(),
            "{} says what it does",
            spec.name
        );
    }
}
