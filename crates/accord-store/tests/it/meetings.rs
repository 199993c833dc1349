use std::collections::HashSet;

use accord_core::clock::Clock;
use accord_core::ids::{Email, RoleId};
use accord_core::meetings::{MeetingDraft, MeetingType};
use accord_store::accounts::NewAccount;
use accord_store::audit::Actor;
use accord_store::meetings::{ListFilter, ListKey, ListType, Meeting, NewMeeting};
use accord_store::users::{NewUser, User};
use accord_store::{Store, StoreError};
use accord_testkit::on_every_backend;

fn cli() -> Actor {
    Actor::cli()
}

async fn account(store: &Store) -> (String, User) {
    let owner = NewUser::new(Email::parse("owner@acme.test").unwrap());
    let (account, owner, _) = store
        .create_account(
            &cli(),
            NewAccount {
                id: None,
                name: "Acme".into(),
                app_approval: Default::default(),
            },
            owner,
        )
        .await
        .unwrap();
    (account.id.into_string(), owner)
}

async fn member(store: &Store, account_id: &str, email: &str, timezone: &str) -> User {
    let mut new = NewUser::new(Email::parse(email).unwrap());
    new.role_id = RoleId::parse("2").unwrap();
    new.timezone = timezone.into();
    store.create_user(&cli(), account_id, new).await.unwrap().0
}

fn draft(json: serde_json::Value) -> MeetingDraft {
    serde_json::from_value(json).unwrap()
}

async fn create(store: &Store, host: &User, json: serde_json::Value) -> Meeting {
    store
        .create_meeting(
            &Actor::User(host.id.to_string()),
            NewMeeting {
                host_id: host.id.clone(),
                assistant_id: None,
                draft: draft(json),
            },
        )
        .await
        .unwrap()
}

async fn actions(store: &Store, account_id: &str, target: i64) -> Vec<(String, serde_json::Value)> {
    store
        .audit_log(account_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.target_kind == "meeting" && e.target_id == target.to_string())
        .map(|e| (e.action, e.details))
        .collect()
}

#[tokio::test]
async fn every_meeting_type_round_trips_with_its_recurrence_and_occurrences() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, _) = account(&store).await;
        let host = member(&store, &acme, "host@acme.test", "Europe/Berlin").await;
        let cases = [
            serde_json::json!({"type": 1, "topic": "Now"}),
            serde_json::json!({"type": 2, "topic": "Once", "start_time": "2027-01-15T10:00:00",
                "agenda": "Plans", "password": "a@b-c_d*1",
                "settings": {"host_video": true, "approval_type": 0, "auto_recording": "cloud",
                    "alternative_hosts": "alt@acme.test"}}),
            serde_json::json!({"type": 3, "topic": "Any time",
                "recurrence": {"type": 3, "monthly_day": 31, "end_times": 5}}),
            serde_json::json!({"type": 8, "topic": "Weekly", "start_time": "2027-03-16T09:00:00",
                "duration": 45, "recurrence": {"type": 2, "weekly_days": "3,5", "end_times": 6}}),
        ];
        for json in cases {
            let created = create(&store, &host, json.clone()).await;
            let read = store.meeting(created.id).await.unwrap();
            assert_eq!(read, created, "{json}");
            assert_eq!(read.host_id, host.id);
            assert_eq!(read.account_id.as_str(), acme);
            assert_eq!(read.status, "waiting");
            assert_eq!(read.input.timezone(), "Europe/Berlin");
            assert_eq!(read.created_at, db.clock.now());
            assert_eq!(read.uuid.len(), 22);
            assert!(accord_core::meetings::check_password(&read.password).is_ok());
            assert_eq!(
                actions(&store, &acme, read.id).await.len(),
                1,
                "one meeting.created entry"
            );
        }
        let (all, _) = store
            .meetings(
                host.id.as_str(),
                &ListFilter::of(ListType::Upcoming),
                None,
                10,
            )
            .await
            .unwrap();
        let by_type = |t: MeetingType| all.iter().find(|m| m.input.meeting_type() == t).unwrap();

        let instant = by_type(MeetingType::Instant);
        assert_eq!(instant.input.start_time(), Some(db.clock.now()));

        let once = by_type(MeetingType::Scheduled);
        assert_eq!(once.password, "a@b-c_d*1");
        assert_eq!(
            once.input.start_time().map(|t| t.rfc3339()).as_deref(),
            Some("2027-01-15T09:00:00Z")
        );
        assert!(once.input.settings().host_video);
        assert_eq!(once.input.settings().alternative_hosts, "alt@acme.test");
        assert_eq!(
            once.join_url("https://meet.example/"),
            format!("https://meet.example/j/{}?pwd=a@b-c_d*1", once.id)
        );
        assert_eq!(
            once.start_url("https://meet.example"),
            format!("https://meet.example/s/{}", once.id)
        );

        let any_time = by_type(MeetingType::RecurringNoFixedTime);
        assert_eq!(any_time.input.start_time(), None);
        assert_eq!(
            any_time.input.recurrence().map(|r| r.monthly_day),
            Some(Some(31))
        );
        assert!(any_time.input.occurrences().is_empty());

        let weekly = by_type(MeetingType::RecurringFixedTime);
        let starts: Vec<&str> = weekly
            .input
            .occurrences()
            .iter()
            .map(|o| o.start_time.as_str())
            .collect();
        assert_eq!(
            starts,
            [
                "2027-03-16T08:00:00Z",
                "2027-03-18T08:00:00Z",
                "2027-03-23T08:00:00Z",
                "2027-03-25T08:00:00Z",
                "2027-03-30T07:00:00Z",
                "2027-04-01T07:00:00Z"
            ]
        );
        assert!(weekly.input.occurrences().iter().all(|o| o.duration == 45));
    })
    .await;
}

#[tokio::test]
async fn invalid_meetings_are_refused_with_the_field_at_fault() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, owner) = account(&store).await;
        let err = store
            .create_meeting(
                &cli(),
                NewMeeting {
                    host_id: owner.id.clone(),
                    assistant_id: None,
                    draft: draft(
                        serde_json::json!({"type": 8, "start_time": "2027-01-01T10:00:00Z",
                        "recurrence": {"type": 1, "end_times": 61}}),
                    ),
                },
            )
            .await
            .unwrap_err();
        match err {
            StoreError::Field(e) => assert_eq!(e.field(), "recurrence.end_times"),
            other => panic!("unexpected {other:?}"),
        }
        let (none, _) = store
            .meetings(
                owner.id.as_str(),
                &ListFilter::of(ListType::Scheduled),
                None,
                10,
            )
            .await
            .unwrap();
        assert!(none.is_empty());
        assert!(
            store
                .audit_log(&acme)
                .await
                .unwrap()
                .iter()
                .all(|e| e.target_kind != "meeting")
        );
    })
    .await;
}

#[tokio::test]
async fn an_assistant_scheduling_for_a_host_is_recorded() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, owner) = account(&store).await;
        let assistant = member(&store, &acme, "pa@acme.test", "UTC").await;
        let meeting = store
            .create_meeting(
                &Actor::User(assistant.id.to_string()),
                NewMeeting {
                    host_id: owner.id.clone(),
                    assistant_id: Some(assistant.id.clone()),
                    draft: draft(serde_json::json!({"topic": "For the boss"})),
                },
            )
            .await
            .unwrap();
        assert_eq!(meeting.host_id, owner.id);
        assert_eq!(meeting.assistant_id, Some(assistant.id.clone()));
        // Deleting the assistant keeps the host's meeting and forgets who scheduled it.
        store
            .delete_user(&cli(), assistant.id.as_str())
            .await
            .unwrap();
        assert_eq!(store.meeting(meeting.id).await.unwrap().assistant_id, None);
    })
    .await;
}

#[tokio::test]
async fn update_revalidates_the_merged_meeting_and_audits_the_changed_fields() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, owner) = account(&store).await;
        let meeting = create(
            &store,
            &owner,
            serde_json::json!({"type": 2, "start_time": "2027-01-15T10:00:00Z", "topic": "Plan",
                "settings": {"waiting_room": true}}),
        )
        .await;
        db.clock.advance_seconds(60);
        let actor = Actor::User(owner.id.to_string());

        // A change that breaks the merged meeting is refused and changes nothing.
        let err = store
            .update_meeting(&actor, meeting.id, &draft(serde_json::json!({"type": 8})))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Field(e) if e.field() == "recurrence"),
            "{err:?}"
        );
        let err = store
            .update_meeting(
                &actor,
                meeting.id,
                &draft(serde_json::json!({"duration": 2000})),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Field(e) if e.field() == "duration"),
            "{err:?}"
        );
        assert_eq!(store.meeting(meeting.id).await.unwrap(), meeting);

        let updated = store
            .update_meeting(
                &actor,
                meeting.id,
                &draft(
                    serde_json::json!({"topic": "Plan B", "settings": {"mute_upon_entry": true},
                    "type": 8, "recurrence": {"type": 1, "end_times": 3}}),
                ),
            )
            .await
            .unwrap();
        assert_eq!(updated.input.topic(), "Plan B");
        assert!(updated.input.settings().waiting_room && updated.input.settings().mute_upon_entry);
        assert_eq!(updated.input.occurrences().len(), 3);
        assert_eq!(updated.input.start_time(), meeting.input.start_time());
        assert_eq!(updated.password, meeting.password);
        assert_eq!(updated.updated_at, db.clock.now());
        assert_eq!(updated.created_at, meeting.created_at);
        assert_eq!(store.meeting(meeting.id).await.unwrap(), updated);

        // Setting what is already there writes nothing.
        store
            .update_meeting(
                &actor,
                meeting.id,
                &draft(serde_json::json!({"topic": "Plan B"})),
            )
            .await
            .unwrap();
        let log = actions(&store, &acme, meeting.id).await;
        let names: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["meeting.created", "meeting.updated"]);
        assert_eq!(
            log[1].1["changed"],
            serde_json::json!(["topic", "type", "settings", "recurrence"])
        );
    })
    .await;
}

#[tokio::test]
async fn delete_removes_the_meeting_and_audits_it() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, owner) = account(&store).await;
        let meeting = create(&store, &owner, serde_json::json!({"topic": "Gone soon"})).await;
        store.delete_meeting(&cli(), meeting.id).await.unwrap();
        assert!(matches!(
            store.meeting(meeting.id).await,
            Err(StoreError::NotFound {
                what: "meeting",
                ..
            })
        ));
        assert!(matches!(
            store.delete_meeting(&cli(), meeting.id).await,
            Err(StoreError::NotFound { .. })
        ));
        let log = actions(&store, &acme, meeting.id).await;
        let names: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["meeting.created", "meeting.deleted"]);
        assert_eq!(log[1].1["topic"], "Gone soon");
    })
    .await;
}

#[tokio::test]
async fn deleting_a_user_deletes_the_meetings_they_host() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, owner) = account(&store).await;
        let leaver = member(&store, &acme, "leaver@acme.test", "UTC").await;
        let theirs = create(&store, &leaver, serde_json::json!({"topic": "Mine"})).await;
        let kept = create(&store, &owner, serde_json::json!({"topic": "Owner's"})).await;
        store.delete_user(&cli(), leaver.id.as_str()).await.unwrap();
        assert!(matches!(
            store.meeting(theirs.id).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.meeting(kept.id).await.unwrap(), kept);
    })
    .await;
}

#[tokio::test]
async fn meeting_ids_have_10_or_11_digits_and_are_unique() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (_, owner) = account(&store).await;
        let mut ids = HashSet::new();
        let mut uuids = HashSet::new();
        for i in 0..40 {
            let m = create(
                &store,
                &owner,
                serde_json::json!({"topic": format!("m{i}")}),
            )
            .await;
            let digits = m.id.to_string().len();
            assert!((10..=11).contains(&digits), "{}", m.id);
            assert!(ids.insert(m.id));
            assert!(uuids.insert(m.uuid.clone()));
        }
    })
    .await;
}

async fn page_through(store: &Store, host: &User, filter: &ListFilter, limit: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<ListKey> = None;
    loop {
        let (page, next) = store
            .meetings(host.id.as_str(), filter, after, limit)
            .await
            .unwrap();
        seen.extend(page.iter().map(|m| m.input.topic().to_owned()));
        match next {
            Some(key) => after = Some(key),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn keyset_pages_stay_consistent_while_meetings_come_and_go() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (acme, owner) = account(&store).await;
        let other = member(&store, &acme, "other@acme.test", "UTC").await;
        create(
            &store,
            &other,
            serde_json::json!({"topic": "not the host's", "start_time": "2027-01-01T10:00:00Z"}),
        )
        .await;
        // Day 1..=8 of January, created out of order; two on day 5 tie on start time.
        let mut made = Vec::new();
        for day in [3, 1, 8, 5, 2, 7, 5, 4] {
            let start = format!("2027-01-{day:02}T10:00:00Z");
            let topic = format!("d{day}-{}", made.len());
            made.push(
                create(
                    &store,
                    &owner,
                    serde_json::json!({"topic": topic, "start_time": start}),
                )
                .await,
            );
        }
        let filter = ListFilter::of(ListType::Scheduled);
        assert_eq!(
            store
                .count_meetings(owner.id.as_str(), &filter)
                .await
                .unwrap(),
            8
        );
        let all = page_through(&store, &owner, &filter, 3).await;
        assert_eq!(all.len(), 8);
        assert!(all.windows(2).all(|w| w[0][1..2] <= w[1][1..2]), "{all:?}");

        // Page 1, then: delete a meeting already shown and one not shown yet, add one before the
        // cursor and one after it.
        let (page1, next) = store
            .meetings(owner.id.as_str(), &filter, None, 3)
            .await
            .unwrap();
        let topics1: Vec<&str> = page1.iter().map(|m| m.input.topic()).collect();
        assert_eq!(topics1, ["d1-1", "d2-4", "d3-0"]);
        let by_topic = |t: &str| made.iter().find(|m| m.input.topic() == t).unwrap().id;
        store
            .delete_meeting(&cli(), by_topic("d2-4"))
            .await
            .unwrap();
        store
            .delete_meeting(&cli(), by_topic("d7-5"))
            .await
            .unwrap();
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "early", "start_time": "2027-01-01T12:00:00Z"}),
        )
        .await;
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "late", "start_time": "2027-01-09T10:00:00Z"}),
        )
        .await;

        let mut rest = Vec::new();
        let mut after = next;
        let mut pages = 1;
        while let Some(key) = after {
            let (page, next) = store
                .meetings(owner.id.as_str(), &filter, Some(key), 3)
                .await
                .unwrap();
            rest.extend(page.iter().map(|m| m.input.topic().to_owned()));
            after = next;
            pages += 1;
        }
        assert!(pages >= 3, "more than two pages");
        let (d5a, d5b) = if by_topic("d5-3") < by_topic("d5-6") {
            ("d5-3", "d5-6")
        } else {
            ("d5-6", "d5-3")
        };
        assert_eq!(rest, ["d4-7", d5a, d5b, "d8-2", "late"]);
        assert_eq!(
            store
                .count_meetings(owner.id.as_str(), &filter)
                .await
                .unwrap(),
            8
        );
    })
    .await;
}

#[tokio::test]
async fn list_types_split_meetings_by_the_store_clock() {
    on_every_backend(|db| async move {
        let store = db.store;
        let (_, owner) = account(&store).await;
        // The test clock starts at 2026-11-28T12:00:00Z.
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "past", "start_time": "2026-11-27T10:00:00Z"}),
        )
        .await;
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "live", "start_time": "2026-11-28T11:30:00Z"}),
        )
        .await;
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "future", "start_time": "2026-12-01T10:00:00Z"}),
        )
        .await;
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "instant", "type": 1, "duration": 30}),
        )
        .await;
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "any time", "type": 3}),
        )
        .await;
        create(
            &store,
            &owner,
            serde_json::json!({"topic": "series", "type": 8, "start_time": "2026-11-20T10:00:00Z",
            "recurrence": {"type": 1, "repeat_interval": 7, "end_times": 3}}),
        )
        .await;
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let list = |t| {
            let store = store.clone();
            let owner = owner.clone();
            async move { sorted(page_through(&store, &owner, &ListFilter::of(t), 2).await) }
        };
        assert_eq!(
            list(ListType::Scheduled).await,
            ["any time", "future", "live", "past", "series"]
        );
        assert_eq!(
            list(ListType::Upcoming).await,
            ["any time", "future", "instant", "live", "series"]
        );
        assert!(list(ListType::PreviousMeetings).await == ["past"]);

        db.clock.advance_seconds(86_400 * 30);
        assert_eq!(list(ListType::Upcoming).await, ["any time"]);
        assert_eq!(
            list(ListType::PreviousMeetings).await,
            ["future", "instant", "live", "past", "series"]
        );
        assert_eq!(
            store
                .count_meetings(
                    owner.id.as_str(),
                    &ListFilter::of(ListType::PreviousMeetings)
                )
                .await
                .unwrap(),
            5
        );

        let december = ListFilter {
            list_type: ListType::Scheduled,
            from: Some(accord_core::clock::Timestamp(1_796_083_200_000)), // 2026-12-01T00:00:00Z
            to: Some(accord_core::clock::Timestamp(1_796_169_600_000)),   // 2026-12-02T00:00:00Z
        };
        assert_eq!(page_through(&store, &owner, &december, 5).await, ["future"]);
        assert_eq!(
            store
                .count_meetings(owner.id.as_str(), &december)
                .await
                .unwrap(),
            1
        );
    })
    .await;
}
