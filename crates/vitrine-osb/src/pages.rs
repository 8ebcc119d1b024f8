//! Step 1 (the documentation answers HTML in the offering's languages) and step 4 (the
//! dashboard's sign-in goes through the marketplace's authorization endpoint). These are
//! browser URLs: the broker's credentials are never sent to them.

use reqwest::Method;
use reqwest::header::{ACCEPT, ACCEPT_LANGUAGE, HeaderValue};
use url::Url;

use crate::Expectations;
use crate::checks::begin;
use crate::guard::{Answer, Guard, Outgoing, Sensitivity};
use crate::report::Check;

/// Redirects the documentation check follows, each hop through the guard again.
const MAX_REDIRECTS: usize = 5;

async fn get(guard: &Guard, url: Url, language: Option<&str>) -> Answer {
    let mut headers = vec![(
        ACCEPT,
        HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"),
    )];
    if let Some(language) = language.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.push((ACCEPT_LANGUAGE, language));
    }
    guard
        .send(Outgoing {
            method: Method::GET,
            url,
            headers,
            body: None,
            sensitivity: Sensitivity::Ordinary,
        })
        .await
}

fn location(answer: &Answer, base: &Url) -> Option<Url> {
    answer
        .header("location")
        .and_then(|l| base.join(l.trim()).ok())
}

fn is_redirect(status: Option<u16>) -> bool {
    matches!(status, Some(301 | 302 | 303 | 307 | 308))
}

/// GETs the page, following up to [`MAX_REDIRECTS`] redirects (each one guarded like the
/// first). Returns every answer, the last one last.
async fn fetch_page(guard: &Guard, url: &Url, language: Option<&str>) -> Vec<Answer> {
    let mut answers = Vec::new();
    let mut next = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let answer = get(guard, next.clone(), language).await;
        let follow = if is_redirect(answer.status) {
            location(&answer, &next)
        } else {
            None
        };
        answers.push(answer);
        match follow {
            Some(url) if matches!(url.scheme(), "http" | "https") => next = url,
            _ => break,
        }
    }
    answers
}

fn is_html(answer: &Answer) -> bool {
    answer.header("content-type").is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml+xml")
    })
}

fn primary(tag: &str) -> String {
    tag.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The `lang` attribute of the `<html>` element, if any.
pub fn html_lang(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    let start = lower.find("<html")?;
    let tag = &lower[start..];
    let tag = &tag[..tag.find('>')?];
    let at = tag
        .match_indices("lang")
        .find(|(i, _)| {
            // `lang` as an attribute name (also `xml:lang`), not a part of another name.
            tag[..*i]
                .chars()
                .last()
                .is_some_and(|c| c.is_whitespace() || c == ':')
        })
        .map(|(i, _)| i + 4)?;
    let rest = tag[at..].trim_start().strip_prefix('=')?.trim_start();
    let value: String = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].chars().take_while(|c| *c != quote).collect(),
        _ => rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '/')
            .collect(),
    };
    (!value.is_empty()).then_some(value)
}

/// Does the answer show the page is in `language`?
fn in_language(answer: &Answer, language: &str) -> bool {
    let wanted = primary(language);
    let by_header = answer
        .header("content-language")
        .is_some_and(|v| v.split(',').any(|tag| primary(tag) == wanted));
    by_header
        || html_lang(&String::from_utf8_lossy(&answer.body)).is_some_and(|l| primary(&l) == wanted)
}

fn page_problem(answers: &[Answer]) -> Option<String> {
    let Some(last) = answers.last() else {
        return Some("no request was sent".to_owned());
    };
    match (&last.failure, last.status) {
        (Some(failure), _) => Some(failure.to_string()),
        (None, Some(200..=299)) if is_html(last) => None,
        (None, Some(200..=299)) => Some(format!(
            "the page answered {} with content type {:?}, not HTML",
            last.status.unwrap_or_default(),
            last.header("content-type").unwrap_or("(none)")
        )),
        (None, status) if is_redirect(status) => Some(format!(
            "more than {MAX_REDIRECTS} redirects, or one without a usable Location"
        )),
        _ => Some(format!("{}, not 2xx", last.describe())),
    }
}

/// `documentation.html` and `documentation.languages`.
pub async fn documentation(guard: &Guard, expectations: &Expectations) -> Vec<Check> {
    let html = begin("documentation.html");
    let languages = begin("documentation.languages");
    let Some(url) = &expectations.documentation_url else {
        let why = "the offering has no documentation URL";
        return vec![html.skipped(why), languages.skipped(why)];
    };
    let mut html = html;
    let answers = fetch_page(guard, url, None).await;
    answers.iter().for_each(|a| html.record(a));
    let html = match page_problem(&answers) {
        None => html.passed(),
        Some(problem) => html.failed(problem),
    };
    let mut languages = languages;
    let languages = if expectations.languages.is_empty() {
        languages.skipped("the offering names no languages")
    } else {
        let mut problems = Vec::new();
        for language in &expectations.languages {
            let answers = fetch_page(guard, url, Some(language)).await;
            answers.iter().for_each(|a| languages.record(a));
            match (page_problem(&answers), answers.last()) {
                (Some(problem), _) => problems.push(format!("{language}: {problem}")),
                (None, Some(last)) if !in_language(last, language) => problems.push(format!(
                    "{language}: asked with Accept-Language: {language}, the page says neither \
                     Content-Language: {language} nor <html lang=\"{language}\">"
                )),
                _ => {}
            }
        }
        languages.judged_by(&problems)
    };
    vec![html, languages]
}

/// What the sign-in check needs.
pub struct SignIn<'a> {
    pub authorization_endpoint: Option<&'a Url>,
    /// The provision answer's `dashboard_url`, or why there is none.
    pub dashboard_url: Result<Option<&'a str>, &'a str>,
    /// The catalog's `dashboard_client.id` of the provisioned service.
    pub client_id: Option<&'a str>,
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

/// `sign_in.redirect`: the dashboard answers 3xx to the authorization endpoint with the
/// catalog's client id (the redirect is not followed).
pub async fn sign_in(guard: &Guard, input: SignIn<'_>) -> Check {
    let pending = begin("sign_in.redirect");
    let Some(endpoint) = input.authorization_endpoint else {
        return pending.skipped("the operator configured no authorization endpoint");
    };
    let dashboard = match input.dashboard_url {
        Err(why) => return pending.skipped(format!("no instance to sign in to: {why}")),
        Ok(None) => return pending.skipped("the provision answer has no dashboard_url"),
        Ok(Some(url)) => url,
    };
    let Some(client_id) = input.client_id else {
        return pending.skipped("the catalog's service declares no dashboard_client");
    };
    let mut pending = pending;
    let dashboard = match Url::parse(dashboard) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return pending.failed(format!("dashboard_url {dashboard:?} is not an http(s) URL")),
    };
    let answer = get(guard, dashboard.clone(), None).await;
    pending.record(&answer);
    if answer.failure.is_some() || !is_redirect(answer.status) {
        return pending.failed(format!(
            "{}; the dashboard was expected to redirect (3xx) to {endpoint}",
            answer.describe()
        ));
    }
    let Some(target) = location(&answer, &dashboard) else {
        return pending.failed("the redirect has no usable Location");
    };
    if !same_endpoint(&target, endpoint) {
        return pending.failed(format!(
            "the dashboard redirects to {target}, not to the marketplace's authorization endpoint {endpoint}"
        ));
    }
    let given: Vec<String> = target
        .query_pairs()
        .filter(|(k, _)| k == "client_id")
        .map(|(_, v)| v.into_owned())
        .collect();
    match given.as_slice() {
        [one] if one == client_id => pending.passed(),
        [] => pending.failed("the redirect to the authorization endpoint has no client_id"),
        _ => pending.failed(format!(
            "the redirect's client_id is {given:?}, not the catalog's dashboard_client.id {client_id:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_lang_attribute_is_found() {
        assert_eq!(
            html_lang("<!doctype html><HTML LANG=\"fr-FR\"><body>"),
            Some("fr-FR".to_lowercase())
        );
        assert_eq!(html_lang("<html class=x lang=en>"), Some("en".to_owned()));
        assert_eq!(html_lang("<html xml:lang='de'>"), Some("de".to_owned()));
        assert_eq!(html_lang("<html data-slang=\"x\">"), None);
        assert_eq!(html_lang("<p>no html</p>"), None);
        assert_eq!(primary("fr-CA"), "fr");
    }
}
