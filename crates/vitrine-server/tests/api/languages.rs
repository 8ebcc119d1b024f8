//! Refusals in the reader's language: the API by `Accept-Language`, with a stable `code`
//! that is the same in every language; the pages in the reader's own.

use reqwest::Method;
use serde_json::json;
use vitrine_domain::submission::SubmissionState;

use crate::support::{Client, Resp, each_backend};
use crate::uploads::draft_submission;
use crate::world::World;

async fn in_language(client: &Client, language: &str, method: Method, path: &str) -> Resp {
    client
        .send(
            client
                .request(method, path)
                .header("accept-language", language),
        )
        .await
}

#[tokio::test]
async fn refusals_follow_accept_language_with_the_same_code() {
    each_backend(|app| async move {
        let w = World::build(app).await;
        let app = &w.app;
        let provider = &w.owner.client;

        // A field refused by the domain: every message in French, codes unchanged.
        let body = json!({
            "provider_account_id": w.provider,
            "name": "X",
            "display_name": {"en": ""},
            "description": {"en": "An offering"},
        });
        let path = "/api/v1/offerings";
        let send = |language: &'static str| {
            provider.send(
                provider
                    .request(Method::POST, path)
                    .header("accept-language", language)
                    .json(&body),
            )
        };
        let fr = send("fr-FR,fr;q=0.9,en;q=0.5").await;
        let fr_problem = fr.problem(422, "validation-failed");
        assert_eq!(fr.header("content-language"), Some("fr"));
        assert_eq!(fr_problem["title"], "La requête contient des valeurs invalides");
        let en = send("en-GB").await;
        let en_problem = en.problem(422, "validation-failed");
        assert_eq!(en_problem["title"], "The request has invalid values");
        let field = |p: &serde_json::Value, name: &str| {
            p["errors"]
                .as_array()
                .expect("errors")
                .iter()
                .find(|e| e["field"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} in {p}"))
        };
        assert_eq!(
            field(&fr_problem, "name")["message"],
            "doit compter de 3 à 32 lettres minuscules, chiffres et tirets, commencer par une lettre et ne pas finir par un tiret"
        );
        assert_eq!(field(&fr_problem, "display_name.en")["message"], "ne doit pas être vide");
        assert_eq!(field(&en_problem, "display_name.en")["message"], "must not be empty");
        for name in ["name", "display_name.en"] {
            assert_eq!(field(&fr_problem, name)["code"], field(&en_problem, name)["code"]);
        }
        assert_eq!(field(&fr_problem, "display_name.en")["code"], "field.empty");
        assert!(
            fr_problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("display_name.en: ne doit pas être vide")),
            "{fr_problem}"
        );

        // A state that forbids the change (409), read in French by a French reader.
        let queued = draft_submission(app, SubmissionState::Queued).await;
        let conflict = provider
            .send(
                provider
                    .request(Method::POST, &format!("/api/v1/submissions/{queued}/submit"))
                    .header("accept-language", "fr"),
            )
            .await;
        let problem = conflict.problem(409, "conflict");
        assert_eq!(problem["code"], "submission.state_forbids");
        assert_eq!(problem["title"], "Incompatible avec l’état actuel");
        assert_eq!(
            problem["detail"],
            "impossible de soumettre cette soumission : son état est « en file d’attente »"
        );

        // One open submission per offering: this one ends before the next.
        provider
            .post(&format!("/api/v1/submissions/{queued}/withdraw"), &json!({}))
            .await
            .expect_status(200);

        // A recording of the wrong type: a title that fits, in the reader's language.
        let draft = draft_submission(app, SubmissionState::Draft).await;
        let text = b"This is a plain text file, not a video.\n".repeat(300);
        let refused = provider
            .send(
                provider
                    .request(
                        Method::PUT,
                        &format!("/api/v1/submissions/{draft}/recordings?filename=notes.txt"),
                    )
                    .header("content-type", "application/octet-stream")
                    .header("accept-language", "fr")
                    .body(text.clone()),
            )
            .await;
        let problem = refused.problem(415, "unsupported-media-type");
        assert_eq!(problem["title"], "Ce type de contenu n’est pas accepté ici");
        assert_eq!(problem["code"], "recording.unsupported_type");
        let english = provider
            .raw(
                Method::PUT,
                &format!("/api/v1/submissions/{draft}/recordings?filename=notes.txt"),
                "application/octet-stream",
                text,
            )
            .await;
        let problem = english.problem(415, "unsupported-media-type");
        assert_eq!(problem["title"], "This type of content is not accepted here");
        assert_ne!(problem["title"], "The request body must be JSON");

        // Outside the API's routes too, and with no header: English.
        let unknown_method = in_language(provider, "fr", Method::DELETE, "/api/v1/catalog").await;
        assert_eq!(
            unknown_method.problem(405, "method-not-allowed")["detail"],
            "ce chemin n’accepte pas cette méthode"
        );
        let anonymous = app.anonymous().get("/api/v1/me").await;
        assert_eq!(
            anonymous.problem(401, "unauthenticated")["title"],
            "Sign-in required"
        );
    })
    .await;
}
