//! The few HTML pages of sign-in: what happened and what to do next, in a sentence and a link.
//! Never JSON, never a stack; every value from outside is escaped.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Marks an answer as a page of its own, which the UI API's one error shape leaves as it is.
#[derive(Debug, Clone, Copy)]
pub struct SignInPage;

const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A page titled `title`, saying `sentence`, with a link to `link` labelled `label`.
pub fn page(status: StatusCode, title: &str, sentence: &str, link: (&str, &str)) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · KYC Monitor</title><style>body{{font:16px/1.5 system-ui,sans-serif;\
         max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}h1{{font-size:1.3rem}}\
         @media (prefers-color-scheme:dark){{body{{background:#16181c;color:#ddd}}a{{color:#8ab4f8}}}}\
         </style></head><body><h1>{title}</h1><p>{sentence}</p><p><a href=\"{href}\">{label}</a></p>\
         </body></html>",
        title = escape(title),
        sentence = escape(sentence),
        href = escape(link.0),
        label = escape(link.1),
    );
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    response.extensions_mut().insert(SignInPage);
    response
}

/// The page that asks the person whether the desktop app waiting at `app` may sign in as
/// `user`: a form that posts `token` back to `action` with `answer` yes or no. Its policy lets
/// the form go to the monitor and its answer on to the app, nowhere else.
pub fn confirm_app(user: &str, app: &str, action: &str, token: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign in the app? · KYC Monitor</title><style>body{{font:16px/1.5 system-ui,sans-serif;\
         max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}h1{{font-size:1.3rem}}\
         button{{font:inherit;padding:.4rem 1rem;margin-right:.6rem}}\
         @media (prefers-color-scheme:dark){{body{{background:#16181c;color:#ddd}}}}\
         </style></head><body><h1>Sign in the KYC Monitor app as {user}?</h1>\
         <p>A program on this computer, waiting at <code>{app}</code>, asked to sign in to this \
         monitor as you. Sign it in only if you have just started signing in from the KYC Monitor \
         app. If you opened a link someone sent you, cancel: their program would act as you.</p>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"token\" \
         value=\"{token}\"><button type=\"submit\" name=\"answer\" value=\"yes\">Sign in the app</button>\
         <button type=\"submit\" name=\"answer\" value=\"no\">Cancel</button></form></body></html>",
        user = escape(user),
        app = escape(app),
        action = escape(action),
        token = escape(token),
    );
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self' {app}"
    );
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response();
    response.extensions_mut().insert(SignInPage);
    response
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_from_outside_are_escaped() {
        assert_eq!(
            super::escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
