//! A page of another origin that posts a form to vitrine as soon as it loads: what a
//! malicious site does to a signed-in visitor.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;

/// A tiny HTTP server on another loopback port, stopped when dropped.
pub struct OtherSite {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl OtherSite {
    /// Serves `/post/{path}`: a page that submits `fields` (`name=value&…`) by POST to
    /// `{target}/{path}` on load, adding vitrine's CSRF cookie as `_csrf` when this origin
    /// can read it (another port of the same host can: cookies ignore ports).
    pub async fn start(target: &str, fields: &'static str) -> OtherSite {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let app = Router::new()
            .route("/post/{*path}", get(attack_page))
            .with_state((target.to_owned(), fields));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OtherSite { port, task }
    }
}

impl Drop for OtherSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn attack_page(
    State((target, fields)): State<(String, &'static str)>,
    Path(path): Path<String>,
) -> Html<String> {
    let inputs: String = fields
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{value}">"#))
        .collect();
    Html(format!(
        r#"<!doctype html><html><head><title>Win a prize</title></head><body>
<form id="attack" method="post" action="{target}/{path}">{inputs}<input type="hidden" name="_csrf" value="guessed"></form>
<script>
  const stolen = document.cookie.split('; ').find(c => c.startsWith('vitrine_csrf='));
  if (stolen) document.querySelector('input[name=_csrf]').value = stolen.slice('vitrine_csrf='.length);
  document.getElementById('attack').submit();
</script>
</body></html>"#
    ))
}
