//! Arbitrary text into every decoder of the wire protocol, alone and in the place of an event
//! or an instant inside a valid message. Whatever decodes must encode and decode again to an
//! equal value, and encoding that value again gives the same text (a server message after
//! its first encoding, which leaves out what subscribers never get).

#![no_main]

use std::fmt::Debug;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use libfuzzer_sys::fuzz_target;
use luot_shared::domain::TicketRef;
use luot_shared::protocol::{
    ClientMessage, ErrorBody, Event, IssueRequest, LoginRequest, LoginResponse, RatingRequest,
    Recorded, ServerMessage, StateView, TrackMessage, TrackView, TransferRequest,
};
use luot_shared::{CenterConfig, Ticket};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value`, decodes the text with `decode` and checks both agree.
fn round_trip<T, E>(value: &T, decode: impl Fn(&str) -> Result<T, E>)
where
    T: Serialize + PartialEq + Debug,
    E: Debug,
{
    let text = serde_json::to_string(value).expect("a decoded value encodes");
    let again = match decode(&text) {
        Ok(again) => again,
        Err(e) => panic!("{value:?} encoded as {text} does not decode: {e:?}"),
    };
    assert_eq!(&again, value, "round trip through {text} changed the value");
    let text_again = serde_json::to_string(&again).expect("a decoded value encodes");
    assert_eq!(text, text_again, "encoding is not stable");
}

/// Decodes `text` as a `T` with serde_json and, when it decodes, checks the round trip.
fn check<T>(text: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    if let Ok(value) = serde_json::from_str::<T>(text) {
        round_trip(&value, |s| serde_json::from_str::<T>(s));
    }
}

/// Decodes `text` as a WebSocket message from the server and checks the round trip. Encoding
/// drops a ticket's `request_id` (it never reaches subscribers); from the message as
/// subscribers get it on, the round trip is exact.
fn check_server_message(text: &str) {
    if let Ok(message) = ServerMessage::decode(text) {
        let public = serde_json::to_string(&message).expect("a decoded message encodes");
        let public = match ServerMessage::decode(&public) {
            Ok(again) => again,
            Err(e) => panic!("{message:?} encoded as {public} does not decode: {e:?}"),
        };
        if let ServerMessage::Event(Recorded {
            event: Event::TicketIssued { ticket, .. },
            ..
        }) = &public
        {
            assert!(ticket.request_id.is_none(), "request_id sent to subscribers");
        }
        round_trip(&public, ServerMessage::decode);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_server_message(text);
    if let Ok(message) = ClientMessage::decode(text) {
        round_trip(&message, ClientMessage::decode);
    }
    // The same text in the places of a valid message where the decoders do most: an event
    // in its envelope, and the instant an event carries.
    check_server_message(&format!(
        r#"{{"type":"event","seq":7,"at":"2025-03-03T01:00:00Z","event":{text}}}"#
    ));
    check_server_message(&format!(
        r#"{{"type":"event","seq":7,"at":{text},"event":{{"kind":"counter_opened","counter":1,"staff":"nv1"}}}}"#
    ));
    check::<Event>(text);
    check::<Ticket>(text);
    check::<TicketRef>(text);
    check::<CenterConfig>(text);
    check::<Timestamp>(text);
    check::<Date>(text);
    check::<Time>(text);
    check::<Recorded>(text);
    check::<IssueRequest>(text);
    check::<TransferRequest>(text);
    check::<RatingRequest>(text);
    check::<LoginRequest>(text);
    check::<LoginResponse>(text);
    check::<ErrorBody>(text);
    check::<StateView>(text);
    check::<TrackView>(text);
    check::<TrackMessage>(text);
});
