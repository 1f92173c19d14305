//! Arbitrary text as a center file. A configuration that parses must validate, name a time
//! zone that loads, survive a round trip through TOML and through JSON, and be accepted by
//! the engine, which then issues and calls a ticket with it.

#![no_main]

use jiff::civil;
use libfuzzer_sys::fuzz_target;
use luot_shared::engine::Reply;
use luot_shared::{CenterConfig, Command, Engine};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = CenterConfig::from_toml(text) else {
        return;
    };
    if let Err(e) = config.validate() {
        panic!("parsed config does not validate: {e}\n{config:?}");
    }
    let tz = match config.time_zone() {
        Ok(tz) => tz,
        Err(e) => panic!("parsed config has no time zone: {e}"),
    };

    // TOML: serializing the parsed file and parsing it again gives the same configuration.
    let toml_text = match toml::to_string(&config) {
        Ok(t) => t,
        Err(e) => panic!("parsed config does not serialize to TOML: {e}\n{config:?}"),
    };
    match CenterConfig::from_toml(&toml_text) {
        Ok(again) => assert_eq!(again, config, "TOML round trip through\n{toml_text}"),
        Err(e) => panic!("serialized config does not parse: {e}\n{toml_text}"),
    }

    // JSON, as the configuration travels in events and snapshots.
    let json = serde_json::to_string(&config).expect("a config serializes to JSON");
    match serde_json::from_str::<CenterConfig>(&json) {
        Ok(again) => assert_eq!(again, config, "JSON round trip through {json}"),
        Err(e) => panic!("config JSON does not parse: {e}\n{json}"),
    }

    // The engine takes it; the log it records replays to the same state.
    let now = civil::date(2025, 3, 3)
        .at(10, 0, 0, 0)
        .to_zoned(tz)
        .expect("a weekday morning exists in every zone")
        .timestamp();
    let mut engine = Engine::new();
    let mut log = Vec::new();
    let out = engine.handle(
        Command::Configure {
            config: Box::new(config.clone()),
            by: "admin".to_owned(),
        },
        now,
    );
    assert!(
        out.result.is_ok(),
        "engine refused a valid config: {:?}",
        out.result
    );
    log.extend(out.events);
    assert_eq!(engine.config(), &config);

    // Its first counter, once open, calls the one ticket issued in its first service.
    let counter = &config.counters[0];
    let out = engine.handle(
        Command::Open {
            counter: counter.id,
            staff: "nv".to_owned(),
        },
        now,
    );
    assert!(out.result.is_ok(), "open refused: {:?}", out.result);
    log.extend(out.events);
    let out = engine.handle(
        Command::Issue {
            service: counter.services[0].clone(),
            priority: None,
            request_id: None,
            credential: "kiosk".to_owned(),
            by: "kiosk".to_owned(),
        },
        now,
    );
    log.extend(out.events);
    if let Ok(Reply::Ticket { ticket, .. }) = out.result {
        let out = engine.handle(
            Command::CallNext {
                counter: counter.id,
                staff: "nv".to_owned(),
            },
            now,
        );
        log.extend(out.events);
        match out.result {
            Ok(Reply::Ticket { ticket: called, .. }) => assert_eq!(called.id, ticket.id),
            other => panic!(
                "counter {} did not call {}: {other:?}",
                counter.id, ticket.number
            ),
        }
    }
    let _ = engine.state_view(now);

    let mut replayed = Engine::new();
    for rec in &log {
        replayed.apply(rec).expect("the log is in seq order");
    }
    assert!(replayed.snapshot() == engine.snapshot(), "replay differs");
    let restored = Engine::from_snapshot(&engine.snapshot()).expect("a snapshot restores");
    assert!(
        restored.snapshot() == engine.snapshot(),
        "restored snapshot differs"
    );
});
