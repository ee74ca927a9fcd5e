//! `Debug` never shows a live token, password or secret-bearing mail body
//! (finding 8): these values end up in logs and panic messages.

use portal::auth::current::{ClientInfo, Via};
use portal::routes::api::types::StrictString;

use crate::helpers::spawn_app;

const SECRET: &str = "s3cr3t-t0ken-value-never-shown-0123456789";

fn assert_hidden(what: &str, shown: String) {
    assert!(!shown.contains(SECRET), "{what} shows the secret: {shown}");
    assert!(shown.contains(portal::auth::tokens::REDACTED), "{what}: {shown}");
}

#[tokio::test]
async fn debug_output_redacts_tokens_passwords_and_secret_mail_bodies() {
    let via = Via::Session { id: uuid::Uuid::nil(), csrf_token: SECRET.into() };
    assert_hidden("Via", format!("{via:?}"));

    use portal::routes::api::{account, auth, users};
    assert_hidden(
        "TokenBody",
        format!("{:?}", auth::TokenBody { token: StrictString(SECRET.into()) }),
    );
    assert_hidden(
        "LoginBody",
        format!(
            "{:?}",
            auth::LoginBody {
                email: StrictString("a@b.example".into()),
                password: StrictString(SECRET.into())
            }
        ),
    );
    assert_hidden(
        "PasswordBody",
        format!(
            "{:?}",
            account::PasswordBody {
                password: StrictString(SECRET.into()),
                current_password: Some(StrictString(SECRET.into())),
            }
        ),
    );
    assert_hidden(
        "AcceptBody",
        format!(
            "{:?}",
            users::AcceptBody {
                token: StrictString(SECRET.into()),
                name: StrictString("Ann".into())
            }
        ),
    );
    let mail = portal::db::outbox::NewMail {
        to: "a@b.example".into(),
        subject: "Your sign-in link".into(),
        text: format!("https://portal.example/client/verify?token={SECRET}"),
        html: Some(SECRET.into()),
        kind: "magic_link",
        contains_secret: true,
    };
    assert_hidden("NewMail", format!("{mail:?}"));

    // Values the portal makes itself: a session, a token, a stored mail.
    let app = spawn_app().await;
    let p = app.practice("Oak Clinic").await;
    let hash = portal::auth::password::hash("correct horse battery staple").unwrap();
    portal::db::users::set_password_hash(&**app.db_client().await, p.owner.id, &hash)
        .await
        .unwrap();
    let client = ClientInfo { ip: None, user_agent: None };
    let signed_in = portal::auth::flows::login_with_password(
        &app.state,
        &p.owner.email,
        "correct horse battery staple",
        &client,
    )
    .await
    .unwrap();
    let shown = format!("{signed_in:?}");
    let portal::auth::mfa::SignIn::Session(signed_in) = signed_in else {
        panic!("the owner has no second factor, so signing in starts a session");
    };
    let cookie_token = signed_in.session.set_cookie.split(['=', ';']).nth(1).unwrap().to_owned();
    assert!(!shown.contains(&cookie_token), "the session token leaked: {shown}");
    assert!(!shown.contains(&signed_in.session.csrf_token), "the CSRF token leaked: {shown}");

    let db = app.db_client().await;
    portal::db::outbox::enqueue(&**db, &mail).await.unwrap();
    let stored = portal::db::outbox::list_recent(&**db, 10).await.unwrap();
    assert!(!stored.is_empty());
    assert_hidden("OutboxMail", format!("{stored:?}"));
}
