//! Deciding: a command checked against the state and turned into the events it records.

use jiff::{SignedDuration, Timestamp};

use super::{Command, DomainError, Engine, Rater, Reply, request_key, status_word};
use crate::domain::{
    CenterConfig, CounterId, Priority, ServiceId, Ticket, TicketId, TicketRef, TicketStatus,
};
use crate::lifecycle;
use crate::protocol::{Event, Recorded};

impl Engine {
    /// Closes the business day when the date has moved on or the closing hour has passed;
    /// when the clock was `stepped` back to an earlier date, also the day of the wrong date,
    /// so the business day follows the corrected clock. (Without a step, a date that seems
    /// to go back is a clock within a few seconds of midnight: the day stays.)
    pub(super) fn roll_day(&mut self, now: Timestamp, stepped: bool, out: &mut Vec<Recorded>) {
        let zoned = now.to_zoned(self.tz.clone());
        let today = zoned.date();
        let live = self.day.unwrap_or(today);
        let due = if live < today || stepped && live > today {
            true
        } else {
            live == today
                && !self.closed_on(today, now)
                && self
                    .config
                    .center
                    .close
                    .is_some_and(|close| zoned.time() >= close)
        };
        let anything_open = self.day.is_some() || self.counters.values().any(|c| c.open);
        if due && anything_open {
            let expired = self
                .tickets
                .values()
                .filter(|t| lifecycle::expires_at_close(t.status))
                .map(TicketRef::from)
                .collect();
            self.record(out, now, Event::DayClosed { day: live, expired });
        } else if due && !self.closed_on(live, now) && live == today {
            // Nothing happened today, but the closing hour passed: remember it so the kiosk
            // stops issuing.
            self.record(
                out,
                now,
                Event::DayClosed {
                    day: live,
                    expired: Vec::new(),
                },
            );
        }
    }

    pub(super) fn decide(
        &mut self,
        command: Command,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        match command {
            Command::Tick | Command::NoteClockStep { .. } => Ok(Reply::Ok),
            Command::Expect { current, then } => {
                let Some(counter) = then.counter() else {
                    return Err(DomainError::Invalid(
                        "only a counter's command can name the ticket it expects".into(),
                    ));
                };
                let state = self.counter_state(counter)?;
                let holds = state.current.and_then(|id| self.tickets.get(&id));
                if holds.map(|t| t.id) != current {
                    return Err(DomainError::TicketChanged(match holds {
                        Some(t) => format!(
                            "counter {counter} now holds ticket {}; nothing was done — look again",
                            t.number
                        ),
                        None => format!(
                            "counter {counter} no longer holds that ticket; nothing was done — look again"
                        ),
                    }));
                }
                self.decide(*then, now, out)
            }
            Command::Issue {
                service,
                priority,
                request_id,
                credential,
                by,
            } => {
                let key = request_key(&credential, request_id)?;
                self.issue(service, priority, key, by, now, out)
            }
            Command::CallNext { counter, staff } => {
                let state = self.counter_state(counter)?;
                if !state.open {
                    return Err(DomainError::CounterClosed(counter));
                }
                if let Some(id) = state.current
                    && let Some(t) = self.tickets.get(&id)
                {
                    let ticket = TicketRef::from(t);
                    self.record(
                        out,
                        now,
                        Event::TicketFinished {
                            ticket,
                            counter,
                            staff: staff.clone(),
                        },
                    );
                }
                match self.select(counter, now) {
                    Some((id, as_priority)) => {
                        let ticket = TicketRef::from(&self.tickets[&id]);
                        self.record(
                            out,
                            now,
                            Event::TicketCalled {
                                ticket,
                                counter,
                                staff,
                                recall: false,
                                as_priority,
                            },
                        );
                        Ok(self.ticket_reply(id, now))
                    }
                    None => Ok(Reply::NobodyWaiting),
                }
            }
            Command::Recall { counter, staff } => {
                let t = self.current(counter, &[TicketStatus::Called], "recall")?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketCalled {
                        ticket,
                        counter,
                        staff,
                        recall: true,
                        as_priority: false,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Start { counter, staff } => {
                let t = self.current(counter, &[TicketStatus::Called], "start")?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketServing {
                        ticket,
                        counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Finish { counter, staff } => {
                let t = self.current(
                    counter,
                    &[TicketStatus::Called, TicketStatus::Serving],
                    "finish",
                )?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketFinished {
                        ticket,
                        counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::NoShow { counter, staff } => {
                let t = self.current(counter, &[TicketStatus::Called], "mark as no-show")?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                self.record(
                    out,
                    now,
                    Event::TicketNoShow {
                        ticket,
                        counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Transfer {
                counter,
                to_service,
                to_counter,
                staff,
            } => {
                let t = self.current(
                    counter,
                    &[TicketStatus::Called, TicketStatus::Serving],
                    "transfer",
                )?;
                let (id, ticket) = (t.id, TicketRef::from(t));
                if to_service.is_none() && to_counter.is_none() {
                    return Err(DomainError::Invalid(
                        "name a service or a counter to transfer to".into(),
                    ));
                }
                if let Some(s) = &to_service
                    && self.config.service(s).is_none()
                {
                    return Err(DomainError::UnknownService(s.clone()));
                }
                if let Some(c) = to_counter {
                    self.counter_state(c)?;
                }
                let service = to_service.unwrap_or_else(|| ticket.service.clone());
                if to_counter == Some(counter) && service == ticket.service {
                    return Err(DomainError::Conflict(
                        "the ticket is already at this counter".into(),
                    ));
                }
                if to_counter.is_none()
                    && !self
                        .config
                        .counters
                        .iter()
                        .any(|c| c.services.contains(&service))
                {
                    return Err(DomainError::Conflict(format!(
                        "no counter serves {service:?}"
                    )));
                }
                self.record(
                    out,
                    now,
                    Event::TicketTransferred {
                        ticket,
                        from_counter: Some(counter),
                        target_wait_min: self.config.service(&service).map(|s| s.target_wait_min),
                        service,
                        counter: to_counter,
                        staff,
                    },
                );
                Ok(self.ticket_reply(id, now))
            }
            Command::Reinstate {
                ticket,
                staff,
                counters,
            } => {
                let t = self
                    .tickets
                    .get(&ticket)
                    .ok_or(DomainError::UnknownTicket(ticket))?;
                self.check_reach(t, counters.as_deref(), "reinstate")?;
                if t.status != TicketStatus::NoShow {
                    return Err(DomainError::Conflict(format!(
                        "only a no-show ticket can be reinstated; {} is {}",
                        t.number,
                        status_word(t.status)
                    )));
                }
                let r = TicketRef::from(t);
                self.record(out, now, Event::TicketReinstated { ticket: r, staff });
                Ok(self.ticket_reply(ticket, now))
            }
            Command::Cancel {
                ticket,
                staff,
                counters,
            } => {
                let t = self
                    .tickets
                    .get(&ticket)
                    .ok_or(DomainError::UnknownTicket(ticket))?;
                self.check_reach(t, counters.as_deref(), "cancel")?;
                if t.status != TicketStatus::Waiting {
                    return Err(DomainError::Conflict(format!(
                        "only a waiting ticket can be cancelled; {} is {}",
                        t.number,
                        status_word(t.status)
                    )));
                }
                let r = TicketRef::from(t);
                self.record(
                    out,
                    now,
                    Event::TicketCancelled {
                        ticket: r,
                        staff,
                        reason: None,
                    },
                );
                Ok(self.ticket_reply(ticket, now))
            }
            Command::Rate {
                ticket,
                score,
                reason,
                rater,
            } => self.rate(ticket, score, reason, rater, now, out),
            Command::Open { counter, staff } => {
                let state = self.counter_state(counter)?;
                if !state.open || state.staff.as_deref() != Some(staff.as_str()) {
                    self.record(out, now, Event::CounterOpened { counter, staff });
                }
                Ok(Reply::Counter(Box::new(self.counter_view(counter, now))))
            }
            Command::Close { counter, staff } => {
                let state = self.counter_state(counter)?;
                if let Some(t) = state.current.and_then(|id| self.tickets.get(&id)) {
                    return Err(DomainError::Conflict(format!(
                        "counter {counter} still holds ticket {}; finish, transfer or mark it first",
                        t.number
                    )));
                }
                if state.open {
                    self.record(out, now, Event::CounterClosed { counter, staff });
                }
                Ok(Reply::Counter(Box::new(self.counter_view(counter, now))))
            }
            Command::Configure { config, by } => self.configure(*config, by, now, out),
        }
    }

    /// Rates a finished ticket: from the rating device of the counter that finished it,
    /// once, within the rating window; or from an admin, as a correction.
    pub(super) fn rate(
        &mut self,
        ticket: TicketId,
        score: u8,
        reason: Option<String>,
        rater: Rater,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        if !(1..=5).contains(&score) {
            return Err(DomainError::Invalid(format!(
                "score must be 1 to 5, not {score}"
            )));
        }
        if let Some(reason) = &reason {
            if score > 2 {
                return Err(DomainError::Invalid(
                    "a reason goes only with a rating of 1 or 2".into(),
                ));
            }
            if !self.config.center.rating_reasons.contains(reason) {
                return Err(DomainError::Invalid(format!(
                    "{reason:?} is not one of the center's rating reasons"
                )));
            }
        }
        let (by, device_counter) = match rater {
            Rater::Staff { .. } => return Err(DomainError::StaffCannotRate),
            Rater::Device { counter: None, .. } => return Err(DomainError::RatingDeviceUnpaired),
            Rater::Device {
                name,
                counter: Some(c),
            } => (name, Some(c)),
            Rater::Admin { name } => (name, None),
        };
        let t = self
            .tickets
            .get(&ticket)
            .or_else(|| self.rateable_after_close.get(&ticket))
            .ok_or(DomainError::UnknownTicket(ticket))?;
        if t.status != TicketStatus::Done {
            return Err(DomainError::Conflict(format!(
                "ticket {} is {}; only a finished ticket can be rated",
                t.number,
                status_word(t.status)
            )));
        }
        let (Some(counter), Some(staff)) = (t.counter, t.staff.clone()) else {
            return Err(DomainError::Conflict(format!(
                "ticket {} was never served",
                t.number
            )));
        };
        if let Some(device) = device_counter {
            if device != counter {
                return Err(DomainError::WrongRatingDevice(format!(
                    "ticket {} was finished at counter {counter}; this is counter {device}'s rating device",
                    t.number
                )));
            }
            if t.rating.is_some() {
                return Err(DomainError::AlreadyRated(t.number.clone()));
            }
            let window = self.config.center.rating_window_min;
            let finished = t.finished_at.unwrap_or(now);
            // A finish dated after `now` (the clock was stepped back since) is within it.
            if now.duration_since(finished) > SignedDuration::from_mins(i64::from(window)) {
                return Err(DomainError::RatingWindowClosed(format!(
                    "ticket {} can be rated only within {window} minutes of its finish",
                    t.number
                )));
            }
        }
        let r = TicketRef::from(t);
        self.record(
            out,
            now,
            Event::TicketRated {
                ticket: r,
                counter,
                staff,
                score,
                by: Some(by),
                correction: device_counter.is_none(),
                reason,
            },
        );
        Ok(self.ticket_reply(ticket, now))
    }

    /// Refuses when the actor is bound to counters none of which serves `t`'s service or is
    /// named for it.
    pub(super) fn check_reach(
        &self,
        t: &Ticket,
        counters: Option<&[CounterId]>,
        action: &str,
    ) -> Result<(), DomainError> {
        let Some(counters) = counters else {
            return Ok(());
        };
        let reaches = counters.iter().any(|&c| {
            t.for_counter == Some(c)
                || self
                    .config
                    .counter(c)
                    .is_some_and(|k| k.services.contains(&t.service))
        });
        if reaches {
            Ok(())
        } else {
            Err(DomainError::NotYourCounter(format!(
                "you may not {action} ticket {}: your counters do not serve {:?}",
                t.number, t.service
            )))
        }
    }

    pub(super) fn issue(
        &mut self,
        service: ServiceId,
        priority: Option<Priority>,
        request_id: Option<String>,
        by: String,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        if let Some(key) = &request_id
            && let Some(&id) = self.requests.get(key)
        {
            let view = self.ticket_view(id, now);
            if view.service != service || view.priority != priority {
                return Err(DomainError::Conflict(
                    "request_id was already used for a different ticket".into(),
                ));
            }
            return Ok(Reply::Ticket {
                ticket: Box::new(view),
                created: false,
            });
        }
        let field = self
            .config
            .service(&service)
            .ok_or_else(|| DomainError::UnknownService(service.clone()))?;
        if !self
            .config
            .counters
            .iter()
            .any(|c| c.services.contains(&service))
        {
            return Err(DomainError::IssuingClosed(format!(
                "no counter serves {:?}",
                field.name
            )));
        }
        if let Some(note) = self.issuing_note(now) {
            return Err(DomainError::IssuingClosed(note));
        }
        // The live business day: the local date, but for a clock a few seconds behind midnight.
        let day = self.day.unwrap_or_else(|| self.local_date(now));
        let n = self
            .numbers
            .get(&day)
            .and_then(|numbers| numbers.get(&service))
            .copied()
            .unwrap_or(field.start);
        if n > 999 {
            return Err(DomainError::NumbersExhausted(service));
        }
        let mut ticket = Ticket {
            id: self.next_ticket_id,
            number: format!("{}{n:03}", field.prefix),
            service,
            priority,
            day,
            issued_at: now,
            status: TicketStatus::Waiting,
            counter: None,
            for_counter: None,
            first_called_at: None,
            called_at: None,
            started_at: None,
            finished_at: None,
            staff: None,
            recalls: 0,
            rating: None,
            request_id,
            estimated_wait_s: None,
            target_wait_min: Some(field.target_wait_min),
            waiting_since: None,
            earlier_waits: Vec::new(),
        };
        // The estimate the citizen is given (and reports later hold against the real wait).
        let ahead = self.ahead_of(&ticket, now);
        ticket.estimated_wait_s = Some(self.estimate_s(&ticket.service, ahead, false));
        let id = ticket.id;
        self.record(out, now, Event::TicketIssued { ticket, by });
        Ok(Reply::Ticket {
            ticket: Box::new(self.ticket_view(id, now)),
            created: true,
        })
    }

    /// Why the kiosk may not issue at `now`, or `None` when it may.
    pub fn issuing_note(&self, now: Timestamp) -> Option<String> {
        let zoned = now.to_zoned(self.tz.clone());
        let c = &self.config.center;
        // The closing hour stops issuing even before an event has closed today: the first
        // command after it may have closed the previous day instead.
        if self.closed_on(zoned.date(), now) || c.close.is_some_and(|close| zoned.time() >= close) {
            return Some("the center has closed for today".into());
        }
        if let Some(open) = c.open
            && zoned.time() < open
        {
            return Some(format!("issuing starts at {}", open.strftime("%H:%M")));
        }
        if let Some(until) = c.issue_until
            && zoned.time() >= until
        {
            return Some(format!(
                "issuing stopped at {} for today",
                until.strftime("%H:%M")
            ));
        }
        None
    }

    pub(super) fn configure(
        &mut self,
        config: CenterConfig,
        by: String,
        now: Timestamp,
        out: &mut Vec<Recorded>,
    ) -> Result<Reply, DomainError> {
        config.validate()?;
        // The first event of a log always records the configuration, even the default one,
        // so the log alone tells what the center was.
        if config == self.config && self.seq > 0 {
            return Ok(Reply::Ok);
        }
        // Tickets the new configuration can no longer route are settled first, so no ticket
        // is left in a queue nobody can call.
        let open: Vec<Ticket> = self
            .tickets
            .values()
            .filter(|t| {
                matches!(
                    t.status,
                    TicketStatus::Waiting | TicketStatus::Called | TicketStatus::Serving
                )
            })
            .cloned()
            .collect();
        for t in open {
            let service_kept = config
                .counters
                .iter()
                .any(|c| c.services.contains(&t.service));
            let holder = t.counter.filter(|_| t.status.at_counter());
            let holder_kept = holder.is_none_or(|c| config.counter(c).is_some());
            let named_kept = t.for_counter.is_none_or(|c| config.counter(c).is_some());
            if holder_kept && named_kept && (service_kept || t.for_counter.is_some()) {
                continue;
            }
            let ticket = TicketRef::from(&t);
            if service_kept {
                self.record(
                    out,
                    now,
                    Event::TicketTransferred {
                        ticket,
                        from_counter: holder,
                        service: t.service.clone(),
                        counter: None,
                        staff: by.clone(),
                        target_wait_min: config.service(&t.service).map(|s| s.target_wait_min),
                    },
                );
            } else {
                self.record(
                    out,
                    now,
                    Event::TicketCancelled {
                        ticket,
                        staff: by.clone(),
                        reason: Some("its service or counter was removed".into()),
                    },
                );
            }
        }
        self.record(out, now, Event::CenterConfigured { config, by });
        Ok(Reply::Ok)
    }
}
