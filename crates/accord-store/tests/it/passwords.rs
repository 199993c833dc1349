//! Sign-in password checks: what each attempt costs in Argon2id work, so response time cannot
//! tell which emails exist.

use accord_core::ids::{Email, Secret};
use accord_store::Store;
use accord_store::audit::Actor;
use accord_store::secrets::PasswordWork;
use accord_testkit::on_every_backend;

const SEED: &str = r#"{"accounts": [{"id": "acme", "name": "Acme", "users": [
  {"id": "olive", "email": "olive@acme.test", "password": "olive-password", "role": "owner"}]}]}"#;

async fn seeded(store: &Store) {
    let seed = accord_store::seed::parse("passwords-test.json", SEED).expect("the seed parses");
    accord_store::seed::apply(store, "passwords-test.json", &seed)
        .await
        .expect("the seed applies");
}

/// The Argon2id work one password check costs.
async fn work_of_check(store: &Store, email: &str, password: &str) -> (bool, PasswordWork) {
    let before = store.keys().password_work();
    let email = Email::parse(email).expect("an email");
    let signed_in = store
        .check_password(&email, &Secret::new(password))
        .await
        .expect("the check runs")
        .len()
        == 1;
    let after = store.keys().password_work();
    let work = PasswordWork {
        hashes: after.hashes - before.hashes,
        verifications: after.verifications - before.verifications,
        peak_concurrent: after.peak_concurrent,
    };
    (signed_in, work)
}

#[tokio::test]
async fn unknown_and_known_emails_each_cost_exactly_one_verification_and_no_hash() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        for (email, password, signs_in) in [
            ("nobody@acme.test", "olive-password", false),
            ("olive@acme.test", "not-her-password", false),
            ("OLIVE@acme.test", "olive-password", true),
        ] {
            let (signed_in, work) = work_of_check(&db.store, email, password).await;
            assert_eq!(signed_in, signs_in, "{email}");
            assert_eq!(
                (work.hashes, work.verifications),
                (0, 1),
                "{email} with the {} password: one verification, no hash",
                if signs_in { "right" } else { "wrong" }
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_user_without_a_password_costs_one_verification_and_never_signs_in() {
    on_every_backend(|db| async move {
        seeded(&db.store).await;
        let mut pending = accord_store::users::NewUser::new(Email::parse("pat@acme.test").unwrap());
        pending.status = accord_core::users::UserStatus::Pending;
        db.store
            .create_user(&Actor::cli(), "acme", pending)
            .await
            .expect("a pending user without a password");
        let (signed_in, work) = work_of_check(&db.store, "pat@acme.test", "").await;
        assert!(!signed_in);
        assert_eq!((work.hashes, work.verifications), (0, 1));
    })
    .await;
}
