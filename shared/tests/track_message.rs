//! Decoding the messages of `/ws/track/{track}`: what the server sends decodes to the same
//! value, and what it never sends is refused rather than read as something else.

#![allow(clippy::unwrap_used)]

use luot_shared::protocol::TrackMessage;

const VIEW: &str = r#"{"type":"track","view":{"ticket":{"id":7,"number":"1003","service":"tnmt","service_name":"Tài nguyên - Môi trường","status":"called","day":"2025-03-03","issued_at":"2025-03-03T01:00:00Z","called_at":"2025-03-03T01:20:00Z","counter":1,"ahead":0,"estimated_wait_s":0,"track":"7-00112233445566778899"},"counter_name":"Quầy 1","center":"Trung tâm","recent_calls":[{"number":"1003","counter":1,"counter_name":"Quầy 1","at":"2025-03-03T01:20:00Z","recall":false}]}}"#;

/// A `track` message as the server writes it decodes, and encodes back to the same value;
/// `pong` and `error` decode too.
#[test]
fn server_messages_round_trip() {
    let message = TrackMessage::decode(VIEW).unwrap();
    let TrackMessage::Track { view } = &message else {
        panic!("{message:?}");
    };
    assert_eq!(view.ticket.number, "1003");
    assert_eq!(view.counter_name.as_deref(), Some("Quầy 1"));
    assert_eq!(view.recent_calls[0].counter, 1);
    let again = TrackMessage::decode(&serde_json::to_string(&message).unwrap()).unwrap();
    assert_eq!(again, message);
    assert_eq!(
        TrackMessage::decode(r#"{"type":"pong"}"#).unwrap(),
        TrackMessage::Pong
    );
    assert!(matches!(
        TrackMessage::decode(r#"{"type":"error","error":{"code":"bad_message","message":"no"}}"#),
        Ok(TrackMessage::Error { .. })
    ));
}

/// Unknown types, a `track` without its view, a view missing the ticket, and text that is not
/// JSON are refused.
#[test]
fn bad_messages_are_refused() {
    for text in [
        r#"{"type":"snapshot","seq":1}"#,
        r#"{"type":"track"}"#,
        r#"{"type":"track","view":{"center":"x","recent_calls":[]}}"#,
        r#"{"view":{}}"#,
        "track",
        "",
    ] {
        assert!(TrackMessage::decode(text).is_err(), "{text}");
    }
}
