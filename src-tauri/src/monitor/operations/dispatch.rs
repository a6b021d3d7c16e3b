//! The desktop window's `operation` command: a declared operation found by its name, called
//! with its path parameters and input as JSON.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{call, visit_all, Caller, CoreError, Monitor, Operation, Running, Visitor};

/// Runs the operation called `name` with its path parameters and input as JSON (the desktop
/// window's `operation` command), answering JSON.
pub fn dispatch(
    monitor: Arc<Monitor>,
    caller: Caller,
    name: &str,
    path: serde_json::Value,
    input: serde_json::Value,
) -> Running<serde_json::Value> {
    type Json = serde_json::Value;
    type Runner = fn(Arc<Monitor>, Caller, Json, Json) -> Running<Json>;
    struct Find<'a>(&'a str, Option<Runner>);
    impl Visitor for Find<'_> {
        fn visit<Op: Operation>(&mut self) {
            if Op::SPEC.name == self.0 {
                self.1 = Some(run_json::<Op>);
            }
        }
    }
    fn run_json<Op: Operation>(
        monitor: Arc<Monitor>,
        caller: Caller,
        path: Json,
        input: Json,
    ) -> Running<Json> {
        Box::pin(async move {
            let path = from_json(path, "path")?;
            let input = from_json(input, "input")?;
            let answer = call::<Op>(monitor, caller, path, input).await?;
            serde_json::to_value(answer).map_err(|error| {
                CoreError::internal("the monitor could not write its answer", &error)
            })
        })
    }
    let mut find = Find(name, None);
    visit_all(&mut find);
    match find.1 {
        Some(run) => run(monitor, caller, path, input),
        None => {
            let name = name.to_owned();
            Box::pin(async move {
                Err(CoreError::NotFound(format!(
                    "there is no operation `{name}`"
                )))
            })
        }
    }
}

fn from_json<T: DeserializeOwned>(value: serde_json::Value, part: &str) -> Result<T, CoreError> {
    let value = if value.is_null() {
        serde_json::json!({})
    } else {
        value
    };
    serde_json::from_value(value).map_err(|error| {
        CoreError::Invalid(format!(
            "the request is not what this operation takes: its {part} has {error}"
        ))
    })
}
