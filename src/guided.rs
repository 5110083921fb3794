//! The guided conversation of a chat bot (Telegram).
//!
//! A citizen who writes to the bot is led to a complete complaint: after
//! the first message the bot asks for the location (a button shares it, or
//! Skip), then for photos (Next), then whether the complaint is anonymous
//! or confidential, then shows a summary with Send and Cancel. Send seals
//! the complaint, which queues the acknowledgement with the tracking code;
//! Cancel withdraws it. A citizen who ignores the questions still gets a
//! complaint when the quiet period ends (the sealer acknowledges it then).
//!
//! Where each citizen is lives in the `dialogues` table and changes in the
//! transaction that processes their message, so the conversation survives
//! restarts and several instances share it. Every answer is queued as an
//! outbound reply, sent by the replier like acknowledgements.
//!
//! Commands work on any bot, guided or not: `/start`, `/status CODE`,
//! `/bahasa [id|en]`, `/batal`; so do shared contacts, which add a verified
//! phone number to the reporter.

use chrono::{DateTime, Utc};
use salur_channels_core::{Buttons, Choice, Control, Key, KeyRequest, Presentation};
use serde::Deserialize;

use crate::intake::{IntakeSettings, Outcome, Prepared};
use crate::replies::{Recipient, ReplyTexts};
use crate::store::{ComplaintRow, DialogueRow, Result, Tx};

/// Longest complaint text shown in the summary, in characters.
const SUMMARY_BODY: usize = 700;

/// The guided conversation's texts in one language
/// (`[guided]` in `config/replies/<lang>.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidedTexts {
    /// The answer to `/start`.
    pub start: String,
    /// The question after the first message.
    pub ask_location: String,
    /// The key that shares the location.
    pub location_button: String,
    /// The key that skips the location.
    pub skip_button: String,
    /// The question after the location.
    pub ask_photos: String,
    /// The key that ends the photos.
    pub next_button: String,
    /// The key that shares the citizen's phone number.
    pub share_phone_button: String,
    /// The privacy question.
    pub ask_privacy: String,
    /// Neither anonymous nor confidential.
    pub privacy_none: String,
    /// Anonymous.
    pub privacy_anonymous: String,
    /// Confidential.
    pub privacy_confidential: String,
    /// Both.
    pub privacy_both: String,
    /// The summary; `{body}`, `{location}`, `{files}`, `{privacy}`.
    pub summary: String,
    /// A location was given.
    pub location_given: String,
    /// No location was given.
    pub location_missing: String,
    /// The Send button.
    pub send_button: String,
    /// The Cancel button.
    pub cancel_button: String,
    /// Added to the summary once sent.
    pub sent_mark: String,
    /// The answer to Cancel.
    pub cancelled: String,
    /// Added to the summary once cancelled.
    pub cancelled_mark: String,
    /// Send or Cancel with nothing being written.
    pub no_draft: String,
    /// A tap on an older summary's button; `{code}`.
    pub already_sent: String,
    /// The answer to `/status`; `{code}`, `{status}`.
    pub status: String,
    /// `/status` with a code that is not the citizen's; `{code}`.
    pub status_unknown: String,
    /// `/status` without a code.
    pub status_usage: String,
    /// The answer to `/bahasa`, in the new language.
    pub language_set: String,
    /// The answer to a shared contact; `{phone}`.
    pub contact_saved: String,
    /// An unknown command.
    pub unknown_command: String,
}

/// Where a citizen is in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing asked.
    Idle,
    /// Asked for the location.
    Location,
    /// Asked for photos.
    Photos,
    /// Asked for the privacy choice.
    Privacy,
    /// Showed the summary.
    Confirm,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Location => "location",
            Self::Photos => "photos",
            Self::Privacy => "privacy",
            Self::Confirm => "confirm",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "location" => Self::Location,
            "photos" => Self::Photos,
            "privacy" => Self::Privacy,
            "confirm" => Self::Confirm,
            _ => Self::Idle,
        }
    }
}

/// The privacy choices a button can carry.
const PRIVACY: [(&str, bool, bool); 4] = [
    ("privacy:none", false, false),
    ("privacy:anonymous", true, false),
    ("privacy:confidential", false, true),
    ("privacy:both", true, true),
];

/// One citizen's conversation, loaded once for each message of theirs.
pub struct Talk<'a> {
    row: DialogueRow,
    settings: &'a IntakeSettings,
    now: DateTime<Utc>,
}

impl<'a> Talk<'a> {
    /// The conversation of the message's sender, in their language: the
    /// one they chose, else their app's.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load<C: Tx>(
        c: &mut C,
        p: &Prepared,
        settings: &'a IntakeSettings,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        let channel = &p.message.channel_name;
        let app_language = p.message.language.as_deref().map(language_of);
        let mut row = c
            .dialogue(channel, &p.handle)
            .await?
            .unwrap_or(DialogueRow {
                channel_name: channel.clone(),
                handle: p.handle.clone(),
                step: Step::Idle.as_str().to_owned(),
                complaint_id: None,
                language: app_language.unwrap_or("id").to_owned(),
                chosen_language: None,
            });
        if row.chosen_language.is_none()
            && let Some(language) = app_language
        {
            language.clone_into(&mut row.language);
        }
        Ok(Self { row, settings, now })
    }

    fn texts(&self) -> &'a ReplyTexts {
        self.settings.replies.texts_in(&self.row.language)
    }

    fn step(&self) -> Step {
        Step::parse(&self.row.step)
    }

    fn go(&mut self, step: Step, complaint_id: Option<String>) {
        step.as_str().clone_into(&mut self.row.step);
        self.row.complaint_id = complaint_id;
    }

    async fn save<C: Tx>(&self, c: &mut C) -> Result<()> {
        c.put_dialogue(&self.row, self.now).await
    }

    /// Queues `body` for the citizen.
    async fn say<C: Tx>(
        &self,
        c: &mut C,
        complaint_id: Option<&str>,
        body: String,
        presentation: Presentation,
    ) -> Result<()> {
        let to = Recipient {
            channel_name: &self.row.channel_name,
            handle: &self.row.handle,
            complaint_id: complaint_id.unwrap_or_default(),
        };
        crate::replies::prompt(c, &self.settings.replies, to, body, &presentation, self.now).await
    }

    /// The complaint being written, when it is still open.
    async fn draft<C: Tx>(&self, c: &mut C) -> Result<Option<ComplaintRow>> {
        Ok(match &self.row.complaint_id {
            Some(id) => c.complaint(id).await?.filter(|d| d.open_key.is_some()),
            None => None,
        })
    }
}

/// `id` for an app language of `id-ID`, `en` for `en-GB`; Indonesian for
/// everything else, the service's default.
fn language_of(code: &str) -> &'static str {
    if code.to_ascii_lowercase().starts_with("en") {
        "en"
    } else {
        "id"
    }
}

/// Whether a guided message is the text of one of our keyboard keys (Skip,
/// Next) typed or tapped while the question is open: it moves the
/// conversation on instead of joining the complaint. Handles it if so.
///
/// # Errors
/// Database errors.
pub async fn keyboard_answer<C: Tx>(c: &mut C, talk: &mut Talk<'_>, p: &Prepared) -> Result<bool> {
    let m = &p.message;
    if m.location.is_some() || !m.attachments.is_empty() || p.text.is_empty() {
        return Ok(false);
    }
    let step = talk.step();
    if !matches!(step, Step::Location | Step::Photos) {
        return Ok(false);
    }
    let typed = p.text.trim().to_lowercase();
    let is_key = talk.settings.replies.languages.values().any(|t| {
        [&t.guided.skip_button, &t.guided.next_button]
            .iter()
            .any(|k| k.to_lowercase() == typed)
    });
    if !is_key {
        return Ok(false);
    }
    let Some(draft) = talk.draft(c).await? else {
        return Ok(false);
    };
    advance_from(c, talk, step, &draft).await?;
    talk.save(c).await?;
    c.set_inbound_processed(p.message_id.as_str(), talk.now)
        .await?;
    Ok(true)
}

/// Moves past `step` (the location or photos question) to the next one.
async fn advance_from<C: Tx>(
    c: &mut C,
    talk: &mut Talk<'_>,
    step: Step,
    draft: &ComplaintRow,
) -> Result<()> {
    let id = Some(draft.id.clone());
    if step == Step::Location {
        talk.go(Step::Photos, id);
        ask_photos(c, talk, &draft.id).await
    } else {
        talk.go(Step::Privacy, id);
        ask_privacy(c, talk, &draft.id).await
    }
}

async fn ask_photos<C: Tx>(c: &mut C, talk: &Talk<'_>, complaint_id: &str) -> Result<()> {
    let g = &talk.texts().guided;
    let keys = Buttons::Keyboard {
        rows: vec![
            vec![key(&g.next_button, None)],
            vec![key(&g.share_phone_button, Some(KeyRequest::Contact))],
        ],
    };
    talk.say(c, Some(complaint_id), g.ask_photos.clone(), with(keys))
        .await
}

async fn ask_privacy<C: Tx>(c: &mut C, talk: &Talk<'_>, complaint_id: &str) -> Result<()> {
    let g = &talk.texts().guided;
    let labels = [
        &g.privacy_none,
        &g.privacy_anonymous,
        &g.privacy_confidential,
        &g.privacy_both,
    ];
    let choices: Vec<Choice> = PRIVACY
        .iter()
        .zip(labels)
        .map(|((data, _, _), label)| Choice {
            label: label.clone(),
            data: (*data).to_owned(),
        })
        .collect();
    let rows = choices.chunks(2).map(<[Choice]>::to_vec).collect();
    talk.say(
        c,
        Some(complaint_id),
        g.ask_privacy.clone(),
        with(Buttons::Inline { rows }),
    )
    .await
}

fn key(label: &str, request: Option<KeyRequest>) -> Key {
    Key {
        label: label.to_owned(),
        request,
    }
}

fn with(buttons: Buttons) -> Presentation {
    Presentation {
        buttons: Some(buttons),
        ..Presentation::default()
    }
}

/// Moves the conversation on after a message joined a complaint: a new
/// complaint gets the location question (or the photos one when it came
/// with a location); a location answers the location question.
///
/// # Errors
/// Database errors.
pub async fn after_content<C: Tx>(
    c: &mut C,
    talk: &mut Talk<'_>,
    p: &Prepared,
    outcome: &Outcome,
) -> Result<()> {
    let Some(complaint_id) = outcome.complaint_id.as_deref() else {
        return Ok(());
    };
    let current = talk.row.complaint_id.as_deref() == Some(complaint_id);
    if outcome.created {
        let id = Some(complaint_id.to_owned());
        if p.message.location.is_some() {
            talk.go(Step::Photos, id);
            ask_photos(c, talk, complaint_id).await?;
        } else {
            talk.go(Step::Location, id);
            let g = &talk.texts().guided;
            let keys = Buttons::Keyboard {
                rows: vec![
                    vec![key(&g.location_button, Some(KeyRequest::Location))],
                    vec![key(&g.skip_button, None)],
                ],
            };
            talk.say(c, Some(complaint_id), g.ask_location.clone(), with(keys))
                .await?;
        }
    } else if current && talk.step() == Step::Location && p.message.location.is_some() {
        talk.go(Step::Photos, Some(complaint_id.to_owned()));
        ask_photos(c, talk, complaint_id).await?;
    }
    talk.save(c).await
}

/// Handles a command, a button tap or a shared contact. The message is
/// stored already; it joins no complaint.
///
/// # Errors
/// Database errors.
pub async fn control<C: Tx>(
    c: &mut C,
    p: &Prepared,
    s: &IntakeSettings,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut talk = Talk::load(c, p, s, now).await?;
    match p.message.control.as_ref() {
        Some(Control::Command { name, args }) => command(c, p, &mut talk, name, args).await?,
        Some(Control::Button {
            data,
            callback_id,
            message_id,
        }) => {
            let tap = Tap {
                callback_id: callback_id.clone(),
                message_id: message_id.clone(),
            };
            button(c, &mut talk, data, tap).await?;
        }
        Some(Control::Contact) => {
            let reporter = crate::intake::resolve_reporter(c, p, now).await?;
            let phone = reporter.phone.unwrap_or_default();
            let body = talk.texts().guided.contact_saved.replace("{phone}", &phone);
            talk.say(c, None, body, Presentation::default()).await?;
        }
        None => {}
    }
    talk.save(c).await?;
    c.set_inbound_processed(p.message_id.as_str(), now).await
}

async fn command<C: Tx>(
    c: &mut C,
    p: &Prepared,
    talk: &mut Talk<'_>,
    name: &str,
    args: &str,
) -> Result<()> {
    let g = &talk.texts().guided;
    match name {
        "start" | "help" | "mulai" | "bantuan" => {
            let keys = Buttons::Keyboard {
                rows: vec![vec![key(&g.share_phone_button, Some(KeyRequest::Contact))]],
            };
            talk.say(c, None, g.start.clone(), with(keys)).await
        }
        "status" | "cek" => {
            let body = status(c, p, talk.texts(), args).await?;
            talk.say(c, None, body, Presentation::default()).await
        }
        "bahasa" | "language" => {
            let wanted = match args.trim().to_lowercase().as_str() {
                "en" | "english" | "inggris" => "en",
                "id" | "indonesia" | "indonesian" => "id",
                _ if talk.row.language == "id" => "en",
                _ => "id",
            };
            wanted.clone_into(&mut talk.row.language);
            talk.row.chosen_language = Some(wanted.to_owned());
            let body = talk.texts().guided.language_set.clone();
            talk.say(c, None, body, Presentation::default()).await
        }
        "batal" | "cancel" => withdraw(c, talk, None).await,
        "kirim" | "send" => send(c, talk, None).await,
        "lewati" | "skip" | "lanjut" | "next" => {
            let step = talk.step();
            match talk.draft(c).await? {
                Some(draft) if matches!(step, Step::Location | Step::Photos) => {
                    advance_from(c, talk, step, &draft).await
                }
                _ => Ok(()),
            }
        }
        _ => {
            let body = g.unknown_command.clone();
            talk.say(c, None, body, Presentation::default()).await
        }
    }
}

/// The answer to `/status CODE`: only the citizen's own complaints are
/// found, and a code that is someone else's reads as unknown.
async fn status<C: Tx>(c: &mut C, p: &Prepared, texts: &ReplyTexts, args: &str) -> Result<String> {
    let g = &texts.guided;
    let Some(code) = crate::domain::TrackingCode::find_in_text(args)
        .or_else(|| crate::domain::TrackingCode::parse(args.trim()).ok())
    else {
        return Ok(g.status_usage.clone());
    };
    let code = code.as_str().to_owned();
    let mine = match (
        c.complaint_by_tracking_code(&code).await?,
        c.identity_reporter(&p.handle).await?,
    ) {
        (Some(complaint), Some(reporter)) if complaint.reporter_id == reporter => Some(complaint),
        _ => None,
    };
    Ok(match mine {
        Some(complaint) => {
            let name = texts
                .status
                .get(&complaint.status)
                .map_or(complaint.status.as_str(), String::as_str);
            g.status.replace("{code}", &code).replace("{status}", name)
        }
        None => g.status_unknown.replace("{code}", &code),
    })
}

/// A button tap, answered by the reply it leads to.
struct Tap {
    callback_id: String,
    message_id: Option<String>,
}

impl Tap {
    /// Answers the tap and replaces the tapped message with `text`,
    /// without its buttons.
    fn edit(&self, text: String) -> (String, Presentation) {
        (
            text,
            Presentation {
                buttons: None,
                edit_of: self.message_id.clone(),
                callback_id: Some(self.callback_id.clone()),
            },
        )
    }
}

async fn button<C: Tx>(c: &mut C, talk: &mut Talk<'_>, data: &str, tap: Tap) -> Result<()> {
    match data {
        "send" => send(c, talk, Some(tap)).await,
        "cancel" => withdraw(c, talk, Some(tap)).await,
        _ => match PRIVACY.iter().find(|(d, _, _)| *d == data) {
            Some(&(_, anonymous, confidential)) => {
                privacy(c, talk, anonymous, confidential, tap).await
            }
            None => {
                // A button of ours we no longer offer: stop the spinner.
                let body = talk.texts().guided.unknown_command.clone();
                let presentation = Presentation {
                    callback_id: Some(tap.callback_id),
                    ..Presentation::default()
                };
                talk.say(c, None, body, presentation).await
            }
        },
    }
}

async fn privacy<C: Tx>(
    c: &mut C,
    talk: &mut Talk<'_>,
    anonymous: bool,
    confidential: bool,
    tap: Tap,
) -> Result<()> {
    let Some(draft) = talk.draft(c).await? else {
        return no_draft(c, talk, tap).await;
    };
    c.set_complaint_privacy(&draft.id, anonymous, confidential, talk.now)
        .await?;
    let g = &talk.texts().guided;
    let chosen = privacy_label(g, anonymous, confidential);
    let (text, presentation) = tap.edit(format!("{}\n\n→ {chosen}", g.ask_privacy));
    talk.say(c, Some(&draft.id), text, presentation).await?;

    let files = c.attachments(&draft.id).await?.len();
    let body: String = draft.body.chars().take(SUMMARY_BODY).collect();
    let location = if draft.location.is_some() {
        &g.location_given
    } else {
        &g.location_missing
    };
    let summary = g
        .summary
        .replace("{location}", location)
        .replace("{files}", &files.to_string())
        .replace("{privacy}", &chosen)
        .replace("{body}", &body);
    let rows = vec![vec![
        Choice {
            label: g.send_button.clone(),
            data: "send".into(),
        },
        Choice {
            label: g.cancel_button.clone(),
            data: "cancel".into(),
        },
    ]];
    talk.go(Step::Confirm, Some(draft.id.clone()));
    talk.say(c, Some(&draft.id), summary, with(Buttons::Inline { rows }))
        .await
}

fn privacy_label(g: &GuidedTexts, anonymous: bool, confidential: bool) -> String {
    match (anonymous, confidential) {
        (false, false) => &g.privacy_none,
        (true, false) => &g.privacy_anonymous,
        (false, true) => &g.privacy_confidential,
        (true, true) => &g.privacy_both,
    }
    .clone()
}

/// Send: seals the draft, which queues the acknowledgement with the
/// tracking code.
async fn send<C: Tx>(c: &mut C, talk: &mut Talk<'_>, tap: Option<Tap>) -> Result<()> {
    let Some(draft) = talk.draft(c).await? else {
        return match tap {
            Some(tap) => no_draft(c, talk, tap).await,
            None => {
                let body = talk.texts().guided.no_draft.clone();
                talk.say(c, None, body, Presentation::default()).await
            }
        };
    };
    let id = draft.id.clone();
    crate::assemble::seal(c, draft, talk.settings, talk.now).await?;
    talk.go(Step::Idle, None);
    if let Some(tap) = tap {
        let g = &talk.texts().guided;
        let (text, presentation) = tap.edit(g.sent_mark.clone());
        talk.say(c, Some(&id), text, presentation).await?;
    }
    Ok(())
}

/// Cancel: the draft is withdrawn, kept with its messages, never published.
async fn withdraw<C: Tx>(c: &mut C, talk: &mut Talk<'_>, tap: Option<Tap>) -> Result<()> {
    let draft = talk.draft(c).await?;
    let g = &talk.texts().guided;
    let Some(draft) = draft else {
        return match tap {
            Some(tap) => no_draft(c, talk, tap).await,
            None => {
                let body = g.no_draft.clone();
                talk.say(c, None, body, Presentation::default()).await
            }
        };
    };
    c.withdraw_complaint(&draft.id, talk.now).await?;
    talk.go(Step::Idle, None);
    if let Some(tap) = tap {
        let (text, presentation) = tap.edit(g.cancelled_mark.clone());
        talk.say(c, Some(&draft.id), text, presentation).await?;
    }
    talk.say(
        c,
        Some(&draft.id),
        g.cancelled.clone(),
        Presentation {
            buttons: Some(Buttons::Remove),
            ..Presentation::default()
        },
    )
    .await
}

/// A tap on a button of a complaint no longer being written: says where it
/// went.
async fn no_draft<C: Tx>(c: &mut C, talk: &mut Talk<'_>, tap: Tap) -> Result<()> {
    let g = &talk.texts().guided;
    let earlier = match &talk.row.complaint_id {
        Some(id) => c.complaint(id).await?,
        None => None,
    };
    let text = match earlier.filter(|e| e.sealed_at.is_some()) {
        Some(e) => g.already_sent.replace("{code}", &e.tracking_code),
        None => g.no_draft.clone(),
    };
    let (text, presentation) = tap.edit(text);
    talk.go(Step::Idle, None);
    talk.say(c, None, text, presentation).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_languages_map_to_the_built_in_ones() {
        assert_eq!(language_of("en"), "en");
        assert_eq!(language_of("en-GB"), "en");
        assert_eq!(language_of("id"), "id");
        assert_eq!(language_of("jv"), "id");
    }

    #[test]
    fn steps_round_trip_and_unknown_is_idle() {
        for s in [
            Step::Idle,
            Step::Location,
            Step::Photos,
            Step::Privacy,
            Step::Confirm,
        ] {
            assert_eq!(Step::parse(s.as_str()), s);
        }
        assert_eq!(Step::parse("other"), Step::Idle);
    }

    #[test]
    fn both_languages_have_every_guided_text() {
        for language in ["id", "en"] {
            let texts = ReplyTexts::builtin(language).expect("built-in texts");
            let g = &texts.guided;
            assert!(g.summary.contains("{body}") && g.summary.contains("{privacy}"));
            assert!(g.status.contains("{code}") && g.status.contains("{status}"));
            assert!(g.already_sent.contains("{code}"));
            assert!(g.contact_saved.contains("{phone}"));
        }
    }
}
