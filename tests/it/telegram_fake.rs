//! A small fake of Telegram's Bot API (<https://core.telegram.org/bots/api>)
//! for the integration tests: an axum server on 127.0.0.1 with a random port
//! that serves `POST /bot{token}/{method}` and `GET /file/bot{token}/{path}`,
//! queues updates for `getUpdates` long polling, records what the bot sends
//! and injects the failures the hosted API produces (blocked chats, flood
//! limits, bad requests, a process killed before confirming updates).
//!
//! Also holds builders for update JSON in the shapes Telegram documents, and
//! tests that prove the fake against teloxide itself.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

/// A token for tests that don't care; its prefix is [`BOT_ID`], like a real
/// token's prefix is its bot's user id.
pub const TOKEN: &str = "7000000001:AAFakeTokenForSalurIntegrationTests";
/// The bot's user id when the token has no numeric prefix, and the `from`
/// of bot messages inside [`callback`] updates.
pub const BOT_ID: i64 = 7_000_000_001;
/// The bot's username, as `getMe` reports it.
pub const BOT_USERNAME: &str = "salur_test_bot";
/// The bot's first name, as `getMe` reports it.
pub const BOT_FIRST_NAME: &str = "Salur Test";
/// The largest file the hosted Bot API lets a bot download (20 MB).
pub const MAX_DOWNLOAD: u64 = 20 * 1024 * 1024;
/// The first message id the fake gives a bot message in each chat.
pub const FIRST_MESSAGE_ID: i64 = 1000;
/// The first name of the user in every update builder.
pub const USER_FIRST_NAME: &str = "Budi";
/// The language code of the user in every update builder unless changed
/// with [`with_language`].
pub const DEFAULT_LANGUAGE: &str = "id";

/// Telegram's description when a bot sends to a user who blocked it.
pub const BLOCKED: &str = "Forbidden: bot was blocked by the user";
/// Telegram's description for `getUpdates` while a webhook is set.
pub const WEBHOOK_CONFLICT: &str = "Conflict: can't use getUpdates method while webhook is active; \
     use deleteWebhook to delete the webhook first";
/// Telegram's description for editing a message it doesn't know.
pub const EDIT_NOT_FOUND: &str = "Bad Request: message to edit not found";
/// Telegram's description for an edit that changes nothing.
pub const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content \
     and reply markup are exactly the same as a current content and reply markup of the message";
/// Telegram's description for `getFile` with an unknown file id.
pub const INVALID_FILE_ID: &str = "Bad Request: invalid file_id";
/// Telegram's description for `getFile` on a file over [`MAX_DOWNLOAD`].
pub const FILE_TOO_BIG: &str = "Bad Request: file is too big";
/// The description for `setWebhook` with a URL that is not HTTPS (the fake
/// also accepts plain HTTP to 127.0.0.1 and localhost).
pub const WEBHOOK_NEEDS_HTTPS: &str =
    "Bad Request: bad webhook: HTTPS url must be provided for webhook";

/// Update types Telegram leaves out when `allowed_updates` is empty or was
/// never given.
const NOT_DEFAULT_UPDATES: [&str; 3] =
    ["chat_member", "message_reaction", "message_reaction_count"];
/// Telegram's limit on a message's text length.
const MAX_TEXT_CHARS: usize = 4096;

/// A message the bot sent (`sendMessage`) or edited (`editMessageText`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// The chat the message went to.
    pub chat_id: i64,
    /// The message's id in that chat (the edited message's id for edits).
    pub message_id: i64,
    /// The text as the bot sent it (the fake parses no entities).
    pub text: String,
    /// The `reply_markup` parameter as sent, of any kind.
    pub reply_markup: Option<Value>,
    /// Every parameter of the call (`parse_mode`, `reply_parameters`, …).
    pub params: Value,
}

/// A file tests registered for `getFile` and downloading.
#[derive(Clone, Debug)]
struct FakeFile {
    unique_id: String,
    path: String,
    bytes: Bytes,
    size: u64,
}

/// A webhook set with `setWebhook`.
#[derive(Clone, Debug)]
struct Webhook {
    url: String,
    secret: Option<String>,
}

/// Everything the fake remembers, behind one lock.
struct Fake {
    queue: Vec<Value>,
    next_update_id: i64,
    allowed_updates: Option<Vec<String>>,
    sent: Vec<Sent>,
    edits: Vec<Sent>,
    callback_answers: Vec<Value>,
    send_attempts: usize,
    next_message_id: HashMap<i64, i64>,
    /// (chat, message) → (text, reply_markup) of every bot message.
    messages: HashMap<(i64, i64), (String, Option<Value>)>,
    files: HashMap<String, FakeFile>,
    file_counter: u64,
    downloads: usize,
    blocked: HashSet<i64>,
    rate_limit: Option<(usize, u32)>,
    fail_400: VecDeque<String>,
    hold_armed: bool,
    held: usize,
    get_updates_calls: Vec<(Option<i64>, Option<u64>)>,
    webhook: Option<Webhook>,
    calls: Vec<(String, Value)>,
}

impl Fake {
    fn new() -> Self {
        Self {
            queue: Vec::new(),
            next_update_id: 100_001,
            allowed_updates: None,
            sent: Vec::new(),
            edits: Vec::new(),
            callback_answers: Vec::new(),
            send_attempts: 0,
            next_message_id: HashMap::new(),
            messages: HashMap::new(),
            files: HashMap::new(),
            file_counter: 0,
            downloads: 0,
            blocked: HashSet::new(),
            rate_limit: None,
            fail_400: VecDeque::new(),
            hold_armed: false,
            held: 0,
            get_updates_calls: Vec::new(),
            webhook: None,
            calls: Vec::new(),
        }
    }

    /// Whether Telegram would deliver an update of this kind under the
    /// current `allowed_updates` setting.
    fn allowed(&self, update: &Value) -> bool {
        let kind = update_kind(update);
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|k| k == kind),
            _ => !NOT_DEFAULT_UPDATES.contains(&kind),
        }
    }

    /// Applies `offset`: forgets confirmed updates. A positive offset
    /// confirms every update below it; a negative one keeps only the last
    /// `-offset` updates.
    fn confirm(&mut self, offset: Option<i64>) {
        match offset {
            Some(o) if o > 0 => self.queue.retain(|u| update_id(u) >= o),
            Some(o) if o < 0 => {
                let keep = usize::try_from(o.unsigned_abs()).unwrap_or(usize::MAX);
                let drop = self.queue.len().saturating_sub(keep);
                self.queue.drain(..drop);
            }
            _ => {}
        }
    }

    /// Whether a call with this offset would forget at least one update.
    fn would_confirm(&self, offset: Option<i64>) -> bool {
        match offset {
            Some(o) if o > 0 => self.queue.iter().any(|u| update_id(u) < o),
            Some(o) if o < 0 => {
                usize::try_from(o.unsigned_abs()).is_ok_and(|keep| self.queue.len() > keep)
            }
            _ => false,
        }
    }

    /// The updates a `getUpdates` call answers with, oldest first.
    fn batch(&mut self, offset: Option<i64>, limit: usize) -> Vec<Value> {
        // Telegram never creates updates of types the bot did not ask for.
        let queue = std::mem::take(&mut self.queue);
        self.queue = queue.into_iter().filter(|u| self.allowed(u)).collect();
        let from = offset.filter(|o| *o > 0).unwrap_or(i64::MIN);
        self.queue
            .iter()
            .filter(|u| update_id(u) >= from)
            .take(limit)
            .cloned()
            .collect()
    }
}

/// State shared by the server and the test-facing handle.
struct Shared {
    token: String,
    bot_id: i64,
    state: Mutex<Fake>,
    /// Bumped on every change tests or pollers may wait for.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Fake> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn me(&self) -> Value {
        let mut me = bot_user(self.bot_id);
        let extra = json!({
            "can_join_groups": false,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            "has_main_web_app": false,
        });
        if let (Some(me), Value::Object(extra)) = (me.as_object_mut(), extra) {
            me.extend(extra);
        }
        me
    }
}

/// Aborts the server task when the last handle to the fake goes away.
struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running fake Bot API. Clones share the same server and state; the
/// server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeBot {
    /// The API root to give teloxide's `set_api_url` or a reqwest client,
    /// like `http://127.0.0.1:PORT` (no trailing slash).
    pub api_url: String,
    /// The only token the fake accepts.
    pub token: String,
    shared: Arc<Shared>,
    _server: Arc<ServerTask>,
}

impl FakeBot {
    /// Binds 127.0.0.1 on a random port and serves the fake there. The bot's
    /// user id is the token's numeric prefix, or [`BOT_ID`] without one.
    pub async fn start(token: &str) -> Self {
        let bot_id = token
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or(BOT_ID);
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot_id,
            state: Mutex::new(Fake::new()),
            changed,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Bot API");
        let addr = listener.local_addr().expect("fake Bot API address");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Bot API server");
        });
        Self {
            api_url: format!("http://{addr}"),
            token: token.to_owned(),
            shared,
            _server: Arc::new(ServerTask(server)),
        }
    }

    /// The URL of a method, `{api_url}/bot{token}/{method}`, for reqwest.
    pub fn method_url(&self, method: &str) -> String {
        format!("{}/bot{}/{method}", self.api_url, self.token)
    }

    /// The bot's `getMe` answer.
    pub fn me(&self) -> Value {
        self.shared.me()
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> i64 {
        self.shared.bot_id
    }

    /// Queues an update (it must carry an `update_id`), keeping the queue in
    /// update_id order, and wakes waiting long polls.
    pub fn push(&self, update: Value) {
        let id = update
            .get("update_id")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("an update needs an update_id: {update}"));
        {
            let mut f = self.shared.lock();
            let at = f.queue.partition_point(|u| update_id(u) <= id);
            f.queue.insert(at, update);
            f.next_update_id = f.next_update_id.max(id + 1);
        }
        self.shared.bump();
    }

    /// Hands out increasing update ids for building updates; stays above
    /// every id pushed so far.
    pub fn next_update_id(&self) -> i64 {
        let mut f = self.shared.lock();
        let id = f.next_update_id;
        f.next_update_id += 1;
        id
    }

    /// The update ids queued and not yet confirmed, oldest first.
    pub fn queued(&self) -> Vec<i64> {
        self.shared.lock().queue.iter().map(update_id).collect()
    }

    /// Every `getUpdates` call so far as (offset, timeout), including
    /// refused and held ones.
    pub fn get_updates_calls(&self) -> Vec<(Option<i64>, Option<u64>)> {
        self.shared.lock().get_updates_calls.clone()
    }

    /// The `sendMessage` calls that succeeded, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.lock().sent.clone()
    }

    /// Waits until at least `n` messages were sent and returns them all;
    /// panics with the ones it has when `within` passes first.
    pub async fn wait_sent(&self, n: usize, within: Duration) -> Vec<Sent> {
        if self.wait_until(within, |f| f.sent.len() >= n).await {
            return self.sent();
        }
        panic!(
            "expected at least {n} sent messages within {within:?}, got {} after {} attempts: {:#?}",
            self.sent().len(),
            self.send_attempts(),
            self.sent()
        );
    }

    /// The `editMessageText` calls that succeeded, in order.
    pub fn edits(&self) -> Vec<Sent> {
        self.shared.lock().edits.clone()
    }

    /// Waits until at least `n` edits were made and returns them all; panics
    /// with the ones it has when `within` passes first.
    pub async fn wait_edits(&self, n: usize, within: Duration) -> Vec<Sent> {
        if self.wait_until(within, |f| f.edits.len() >= n).await {
            return self.edits();
        }
        panic!(
            "expected at least {n} edits within {within:?}, got {:#?}",
            self.edits()
        );
    }

    /// The parameters of every `answerCallbackQuery` call, in order.
    pub fn callback_answers(&self) -> Vec<Value> {
        self.shared.lock().callback_answers.clone()
    }

    /// Every `sendMessage` call, including the ones the fake refused.
    pub fn send_attempts(&self) -> usize {
        self.shared.lock().send_attempts
    }

    /// The parameters of every call to `method` (matched case-insensitively)
    /// that passed the token check, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Registers a downloadable file and returns the `file_path` `getFile`
    /// will report for it.
    pub fn add_file(&self, file_id: &str, bytes: Vec<u8>) -> String {
        let size = bytes.len() as u64;
        self.add_file_sized(file_id, bytes, size)
    }

    /// Registers a file whose `getFile` reports `file_size` whatever the
    /// bytes are, so tests can claim a file over [`MAX_DOWNLOAD`] without
    /// allocating one. Returns its `file_path`.
    pub fn add_file_sized(&self, file_id: &str, bytes: Vec<u8>, file_size: u64) -> String {
        let mut f = self.shared.lock();
        f.file_counter += 1;
        let path = format!("photos/file_{}.jpg", f.file_counter);
        let file = FakeFile {
            unique_id: format!("AQAD{}", f.file_counter),
            path: path.clone(),
            bytes: Bytes::from(bytes),
            size: file_size,
        };
        f.files.insert(file_id.to_owned(), file);
        path
    }

    /// How many file downloads the fake served.
    pub fn downloads(&self) -> usize {
        self.shared.lock().downloads
    }

    /// Makes every later `sendMessage`/`editMessageText` to `chat_id` answer
    /// 403 [`BLOCKED`].
    pub fn block_chat(&self, chat_id: i64) {
        self.shared.lock().blocked.insert(chat_id);
    }

    /// Undoes [`FakeBot::block_chat`] (the user unblocked the bot).
    pub fn unblock_chat(&self, chat_id: i64) {
        self.shared.lock().blocked.remove(&chat_id);
    }

    /// Makes the next `n` `sendMessage` calls answer 429 with
    /// `parameters.retry_after = retry_after`.
    pub fn rate_limit_next(&self, n: usize, retry_after: u32) {
        self.shared.lock().rate_limit = Some((n, retry_after));
    }

    /// Makes the next `sendMessage` call answer 400 with `description`
    /// (calling it twice fails the next two calls).
    pub fn fail_next_send_400(&self, description: &str) {
        self.shared
            .lock()
            .fail_400
            .push_back(description.to_owned());
    }

    /// Arms a hold: the next `getUpdates` call whose offset would confirm at
    /// least one queued update never answers and confirms nothing, as if the
    /// process died after committing updates and before confirming them.
    /// One call is caught; later calls behave normally.
    pub fn hold_confirm(&self) {
        self.shared.lock().hold_armed = true;
    }

    /// Disarms a hold that caught no call yet. A call already held stays
    /// hung.
    pub fn release_hold(&self) {
        self.shared.lock().hold_armed = false;
    }

    /// How many `getUpdates` calls a hold caught.
    pub fn held(&self) -> usize {
        self.shared.lock().held
    }

    /// Waits until a hold caught a call; panics when `within` passes first.
    pub async fn wait_held(&self, within: Duration) {
        if !self.wait_until(within, |f| f.held > 0).await {
            panic!(
                "no getUpdates call confirmed anything within {within:?}; calls: {:?}",
                self.get_updates_calls()
            );
        }
    }

    /// The webhook's URL and secret token, when one is set.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.shared
            .lock()
            .webhook
            .as_ref()
            .map(|w| (w.url.clone(), w.secret.clone()))
    }

    /// Waits until `ready` holds for the fake's state; `false` on timeout.
    async fn wait_until(&self, within: Duration, ready: impl Fn(&Fake) -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut changes = self.shared.changed.subscribe();
        loop {
            if ready(&self.shared.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return ready(&self.shared.lock());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The server.

/// Serves every request: routes by path, checks the token, merges the
/// parameters and dispatches on the method name.
async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["file", bot, rest @ ..] if !rest.is_empty() => {
            if !token_ok(&shared, bot) {
                return error(401, "Unauthorized");
            }
            let path = percent_decode(&rest.join("/"), false);
            download(&shared, &path)
        }
        [bot, method] => {
            if !token_ok(&shared, bot) {
                return error(401, "Unauthorized");
            }
            let params = match parameters(&uri, &headers, &body) {
                Ok(params) => params,
                Err(description) => return error(400, &description),
            };
            let method = percent_decode(method, false);
            shared
                .lock()
                .calls
                .push((method.clone(), Value::Object(params.clone())));
            call(&shared, &method, &params).await
        }
        _ => error(404, "Not Found"),
    }
}

/// Whether a `bot{token}` path segment carries the fake's token.
fn token_ok(shared: &Shared, segment: &str) -> bool {
    percent_decode(segment, false)
        .strip_prefix("bot")
        .is_some_and(|t| t == shared.token)
}

/// Runs one Bot API method; names match case-insensitively like Telegram's.
async fn call(shared: &Shared, method: &str, p: &Map<String, Value>) -> Response {
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(shared.me()),
        "getupdates" => get_updates(shared, p).await,
        "sendmessage" => send_message(shared, p),
        "editmessagetext" => edit_message_text(shared, p),
        "answercallbackquery" => answer_callback_query(shared, p),
        "getfile" => get_file(shared, p),
        "setwebhook" => set_webhook(shared, p),
        "deletewebhook" => delete_webhook(shared, p),
        "getwebhookinfo" => get_webhook_info(shared),
        _ => error(404, "Not Found"),
    }
}

async fn get_updates(shared: &Shared, p: &Map<String, Value>) -> Response {
    let offset = int(p, "offset");
    let limit = int(p, "limit").unwrap_or(100).clamp(1, 100);
    let limit = usize::try_from(limit).unwrap_or(100);
    let timeout = int(p, "timeout").map(|t| u64::try_from(t).unwrap_or(0));
    let allowed = json_param(p, "allowed_updates").and_then(|v| string_list(&v));
    // Subscribe before looking, so a push between the look and the wait
    // still wakes this poll.
    let mut changes = shared.changed.subscribe();
    let hold = {
        let mut f = shared.lock();
        f.get_updates_calls.push((offset, timeout));
        if f.webhook.is_some() {
            return error(409, WEBHOOK_CONFLICT);
        }
        if let Some(list) = allowed {
            f.allowed_updates = Some(list);
        }
        if f.hold_armed && f.would_confirm(offset) {
            f.hold_armed = false;
            f.held += 1;
            true
        } else {
            f.confirm(offset);
            false
        }
    };
    shared.bump();
    if hold {
        return std::future::pending().await;
    }
    let deadline = Instant::now() + Duration::from_secs(timeout.unwrap_or(0));
    loop {
        let batch = shared.lock().batch(offset, limit);
        if !batch.is_empty() || Instant::now() >= deadline {
            return ok(Value::Array(batch));
        }
        // A timeout and a change both mean "look again".
        let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
    }
}

fn send_message(shared: &Shared, p: &Map<String, Value>) -> Response {
    let mut f = shared.lock();
    f.send_attempts += 1;
    if let Some((n, retry_after)) = f.rate_limit
        && n > 0
    {
        f.rate_limit = (n > 1).then_some((n - 1, retry_after));
        drop(f);
        shared.bump();
        return too_many_requests(retry_after);
    }
    if let Some(description) = f.fail_400.pop_front() {
        drop(f);
        shared.bump();
        return error(400, &description);
    }
    let chat_id = match chat_id(p) {
        Ok(id) => id,
        Err(description) => return error(400, description),
    };
    let text = string(p, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return error(400, "Bad Request: message text is empty");
    }
    if !p.contains_key("parse_mode") && text.chars().count() > MAX_TEXT_CHARS {
        return error(400, "Bad Request: message is too long");
    }
    if f.blocked.contains(&chat_id) {
        return error(403, BLOCKED);
    }
    let next = f.next_message_id.entry(chat_id).or_insert(FIRST_MESSAGE_ID);
    let message_id = *next;
    *next += 1;
    let reply_markup = json_param(p, "reply_markup");
    f.messages
        .insert((chat_id, message_id), (text.clone(), reply_markup.clone()));
    let message = bot_message(
        shared.bot_id,
        chat_id,
        message_id,
        &text,
        reply_markup.as_ref(),
        None,
    );
    f.sent.push(Sent {
        chat_id,
        message_id,
        text,
        reply_markup,
        params: Value::Object(p.clone()),
    });
    drop(f);
    shared.bump();
    ok(message)
}

fn edit_message_text(shared: &Shared, p: &Map<String, Value>) -> Response {
    let text = string(p, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return error(400, "Bad Request: message text is empty");
    }
    let reply_markup = json_param(p, "reply_markup");
    if p.contains_key("inline_message_id") && !p.contains_key("chat_id") {
        // Messages sent via inline mode: Telegram answers `true`.
        shared.lock().edits.push(Sent {
            chat_id: 0,
            message_id: 0,
            text,
            reply_markup,
            params: Value::Object(p.clone()),
        });
        shared.bump();
        return ok(json!(true));
    }
    let chat_id = match chat_id(p) {
        Ok(id) => id,
        Err(description) => return error(400, description),
    };
    let Some(message_id) = int(p, "message_id") else {
        return error(400, "Bad Request: message identifier is not specified");
    };
    let mut f = shared.lock();
    if f.blocked.contains(&chat_id) {
        return error(403, BLOCKED);
    }
    let Some(current) = f.messages.get_mut(&(chat_id, message_id)) else {
        return error(400, EDIT_NOT_FOUND);
    };
    // Without reply_markup Telegram removes the inline keyboard, so the new
    // markup replaces the old one either way.
    if current.0 == text && current.1 == reply_markup {
        return error(400, NOT_MODIFIED);
    }
    *current = (text.clone(), reply_markup.clone());
    let message = bot_message(
        shared.bot_id,
        chat_id,
        message_id,
        &text,
        reply_markup.as_ref(),
        Some(now()),
    );
    f.edits.push(Sent {
        chat_id,
        message_id,
        text,
        reply_markup,
        params: Value::Object(p.clone()),
    });
    drop(f);
    shared.bump();
    ok(message)
}

fn answer_callback_query(shared: &Shared, p: &Map<String, Value>) -> Response {
    if string(p, "callback_query_id").is_none_or(|id| id.is_empty()) {
        return error(
            400,
            "Bad Request: query is too old and response timeout expired or query ID is invalid",
        );
    }
    shared
        .lock()
        .callback_answers
        .push(Value::Object(p.clone()));
    shared.bump();
    ok(json!(true))
}

fn get_file(shared: &Shared, p: &Map<String, Value>) -> Response {
    let file_id = string(p, "file_id").unwrap_or_default();
    let f = shared.lock();
    let Some(file) = f.files.get(&file_id) else {
        return error(400, INVALID_FILE_ID);
    };
    if file.size > MAX_DOWNLOAD {
        return error(400, FILE_TOO_BIG);
    }
    ok(json!({
        "file_id": file_id,
        "file_unique_id": file.unique_id,
        "file_size": file.size,
        "file_path": file.path,
    }))
}

fn download(shared: &Shared, path: &str) -> Response {
    let mut f = shared.lock();
    let Some(bytes) = f
        .files
        .values()
        .find(|file| file.path == path)
        .map(|file| file.bytes.clone())
    else {
        return error(404, "Not Found");
    };
    f.downloads += 1;
    drop(f);
    shared.bump();
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

fn set_webhook(shared: &Shared, p: &Map<String, Value>) -> Response {
    let url = string(p, "url").unwrap_or_default();
    if url.is_empty() {
        return delete_webhook(shared, p);
    }
    if !webhook_url_ok(&url) {
        return error(400, WEBHOOK_NEEDS_HTTPS);
    }
    let secret = string(p, "secret_token");
    if let Some(secret) = &secret {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if secret.is_empty() || secret.len() > 256 || !secret.chars().all(allowed) {
            return error(
                400,
                "Bad Request: secret token contains unallowed characters",
            );
        }
    }
    let allowed = json_param(p, "allowed_updates").and_then(|v| string_list(&v));
    let mut f = shared.lock();
    if let Some(list) = allowed {
        f.allowed_updates = Some(list);
    }
    if boolean(p, "drop_pending_updates") {
        f.queue.clear();
    }
    f.webhook = Some(Webhook { url, secret });
    drop(f);
    shared.bump();
    ok_described(json!(true), "Webhook was set")
}

fn delete_webhook(shared: &Shared, p: &Map<String, Value>) -> Response {
    let mut f = shared.lock();
    if boolean(p, "drop_pending_updates") {
        f.queue.clear();
    }
    let was_set = f.webhook.take().is_some();
    drop(f);
    shared.bump();
    let description = if was_set {
        "Webhook was deleted"
    } else {
        "Webhook is already deleted"
    };
    ok_described(json!(true), description)
}

fn get_webhook_info(shared: &Shared) -> Response {
    let f = shared.lock();
    let mut info = json!({
        "url": f.webhook.as_ref().map(|w| w.url.clone()).unwrap_or_default(),
        "has_custom_certificate": false,
        "pending_update_count": f.queue.len(),
    });
    if f.webhook.is_some() {
        info["max_connections"] = json!(40);
        if let Some(list) = &f.allowed_updates {
            info["allowed_updates"] = json!(list);
        }
    }
    ok(info)
}

/// Whether `setWebhook` takes this URL: HTTPS like the hosted API, plus
/// plain HTTP to the loopback so tests can point it at themselves.
fn webhook_url_ok(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    ["http://127.0.0.1", "http://localhost"].iter().any(|p| {
        url.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
    })
}

// ---------------------------------------------------------------------------
// Responses.

fn ok(result: Value) -> Response {
    Json(json!({ "ok": true, "result": result })).into_response()
}

fn ok_described(result: Value, description: &str) -> Response {
    Json(json!({ "ok": true, "result": result, "description": description })).into_response()
}

fn error(code: u16, description: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({ "ok": false, "error_code": code, "description": description });
    (status, Json(body)).into_response()
}

fn too_many_requests(retry_after: u32) -> Response {
    let body = json!({
        "ok": false,
        "error_code": 429,
        "description": format!("Too Many Requests: retry after {retry_after}"),
        "parameters": { "retry_after": retry_after },
    });
    (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
}

// ---------------------------------------------------------------------------
// Parameters: JSON bodies, form bodies and query strings, merged.

/// Merges the query string and the body into one parameter map; body
/// parameters win. Form and query values stay strings; the accessors below
/// coerce them.
fn parameters(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    if let Some(query) = uri.query() {
        params.extend(form_pairs(query));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = content_type.to_ascii_lowercase();
    let trimmed = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(params);
    }
    if kind.starts_with("application/x-www-form-urlencoded") {
        params.extend(form_pairs(&String::from_utf8_lossy(trimmed)));
    } else if kind.starts_with("multipart/form-data") {
        let fields = multipart_fields(content_type, body)
            .ok_or_else(|| "Bad Request: can't parse multipart/form-data".to_owned())?;
        params.extend(fields);
    } else {
        match serde_json::from_slice::<Value>(trimmed) {
            Ok(Value::Object(map)) => params.extend(map),
            _ => return Err("Bad Request: can't parse JSON object".to_owned()),
        }
    }
    Ok(params)
}

/// The text fields of a `multipart/form-data` body as string values
/// (teloxide sends `setWebhook` this way because it may carry a
/// certificate). File parts are skipped: the fake takes no uploads.
fn multipart_fields(content_type: &str, body: &[u8]) -> Option<Vec<(String, Value)>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut fields = Vec::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part.split_once("\r\n\r\n")?;
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))?;
        if disposition.contains("filename=") {
            continue;
        }
        let name = disposition
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name="))?
            .trim_matches('"');
        fields.push((name.to_owned(), Value::String(value.to_owned())));
    }
    Some(fields)
}

/// Decodes `a=1&b=x+y` into string values.
fn form_pairs(s: &str) -> impl Iterator<Item = (String, Value)> + '_ {
    s.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (
            percent_decode(key, true),
            Value::String(percent_decode(value, true)),
        )
    })
}

/// Decodes `%XX` escapes (and `+` as a space in form encoding); malformed
/// escapes stay as they are.
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An integer parameter, given as a JSON number or a numeric string.
fn int(p: &Map<String, Value>, key: &str) -> Option<i64> {
    match p.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string parameter; numbers are taken as their decimal text.
fn string(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A boolean parameter, given as JSON `true` or the string `true`/`1`.
fn boolean(p: &Map<String, Value>, key: &str) -> bool {
    match p.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

/// An object or array parameter, given as JSON or as JSON-serialized text
/// (the way form and query encodings carry them).
fn json_param(p: &Map<String, Value>, key: &str) -> Option<Value> {
    match p.get(key)? {
        v @ (Value::Object(_) | Value::Array(_)) => Some(v.clone()),
        Value::String(s) => serde_json::from_str(s).ok(),
        _ => None,
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The `chat_id` parameter, or Telegram's description of what is wrong.
fn chat_id(p: &Map<String, Value>) -> Result<i64, &'static str> {
    match p.get("chat_id") {
        None => Err("Bad Request: chat_id is empty"),
        Some(Value::String(s)) if s.is_empty() => Err("Bad Request: chat_id is empty"),
        // `@username` and anything else the fake doesn't know.
        Some(_) => int(p, "chat_id").ok_or("Bad Request: chat not found"),
    }
}

// ---------------------------------------------------------------------------
// Update builders.

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn update_id(update: &Value) -> i64 {
    update
        .get("update_id")
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

/// The update's type: its one field besides `update_id`.
fn update_kind(update: &Value) -> &str {
    update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id"))
        .map_or("", String::as_str)
}

/// The bot as a User object.
fn bot_user(bot_id: i64) -> Value {
    json!({
        "id": bot_id,
        "is_bot": true,
        "first_name": BOT_FIRST_NAME,
        "username": BOT_USERNAME,
    })
}

/// The chat object for a chat id: private for users, a group or (for
/// `-100…` ids) a supergroup otherwise.
fn chat_for(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({ "id": chat_id, "type": "private", "first_name": "Warga" })
    } else if chat_id <= -1_000_000_000_000 {
        json!({ "id": chat_id, "type": "supergroup", "title": "Warga" })
    } else {
        json!({ "id": chat_id, "type": "group", "title": "Warga" })
    }
}

/// A message the bot sent, as `sendMessage`/`editMessageText` answer it.
fn bot_message(
    bot_id: i64,
    chat_id: i64,
    message_id: i64,
    text: &str,
    reply_markup: Option<&Value>,
    edit_date: Option<i64>,
) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(bot_id),
        "chat": chat_for(chat_id),
        "date": now(),
        "text": text,
    });
    if let Some(markup) = reply_markup.filter(|m| m.get("inline_keyboard").is_some()) {
        message["reply_markup"] = markup.clone();
    }
    if let Some(edit_date) = edit_date {
        message["edit_date"] = json!(edit_date);
    }
    message
}

/// A user (never a bot) as Telegram shows them in `from`.
fn user(user_id: i64) -> Value {
    json!({
        "id": user_id,
        "is_bot": false,
        "first_name": USER_FIRST_NAME,
        "language_code": DEFAULT_LANGUAGE,
    })
}

fn private_chat(user_id: i64) -> Value {
    json!({ "id": user_id, "type": "private", "first_name": USER_FIRST_NAME })
}

/// A message from `user_id` in their private chat with the bot, with
/// `content` merged in.
fn user_message(user_id: i64, message_id: i64, content: Value) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "from": user(user_id),
        "chat": private_chat(user_id),
        "date": now(),
    });
    if let (Some(m), Value::Object(content)) = (message.as_object_mut(), content) {
        m.extend(content);
    }
    message
}

fn message_update(update_id: i64, message: Value) -> Value {
    json!({ "update_id": update_id, "message": message })
}

/// A text message in a private chat.
pub fn text(update_id: i64, user_id: i64, message_id: i64, text: &str) -> Value {
    message_update(
        update_id,
        user_message(user_id, message_id, json!({ "text": text })),
    )
}

/// Changes the sender's `language_code` in any update these builders make.
pub fn with_language(mut update: Value, lang: &str) -> Value {
    let kind = update_kind(&update).to_owned();
    if let Some(from) = update
        .get_mut(&kind)
        .and_then(|payload| payload.get_mut("from"))
    {
        from["language_code"] = json!(lang);
    }
    update
}

/// A bot command such as `/start` or `/lapor jalan rusak`, with the
/// `bot_command` entity Telegram adds (offsets and lengths in UTF-16 code
/// units). A missing leading `/` is added.
pub fn command(update_id: i64, user_id: i64, message_id: i64, command: &str) -> Value {
    let text = if command.starts_with('/') {
        command.to_owned()
    } else {
        format!("/{command}")
    };
    let name = text.split_whitespace().next().unwrap_or_default();
    let length = name.encode_utf16().count();
    let content = json!({
        "text": text,
        "entities": [{ "type": "bot_command", "offset": 0, "length": length }],
    });
    message_update(update_id, user_message(user_id, message_id, content))
}

/// A photo: three sizes, smallest first, the largest carrying `file_id`
/// (the smaller ones get `_s`/`_m` suffixes).
pub fn photo(
    update_id: i64,
    user_id: i64,
    message_id: i64,
    file_id: &str,
    caption: Option<&str>,
    media_group_id: Option<&str>,
) -> Value {
    let size = |suffix: &str, width: u32, height: u32, bytes: u32| {
        json!({
            "file_id": format!("{file_id}{suffix}"),
            "file_unique_id": format!("U{file_id}{suffix}"),
            "file_size": bytes,
            "width": width,
            "height": height,
        })
    };
    let mut content = json!({
        "photo": [
            size("_s", 90, 68, 1_421),
            size("_m", 320, 240, 18_533),
            size("", 1280, 960, 143_902),
        ],
    });
    if let Some(caption) = caption {
        content["caption"] = json!(caption);
    }
    if let Some(group) = media_group_id {
        content["media_group_id"] = json!(group);
    }
    message_update(update_id, user_message(user_id, message_id, content))
}

/// A document (any file sent without compression).
pub fn document(
    update_id: i64,
    user_id: i64,
    message_id: i64,
    file_id: &str,
    file_name: &str,
    mime_type: &str,
    caption: Option<&str>,
) -> Value {
    let mut content = json!({
        "document": {
            "file_id": file_id,
            "file_unique_id": format!("U{file_id}"),
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": 48_213,
        },
    });
    if let Some(caption) = caption {
        content["caption"] = json!(caption);
    }
    message_update(update_id, user_message(user_id, message_id, content))
}

/// A voice note (OGG/Opus, as Telegram records them).
pub fn voice(
    update_id: i64,
    user_id: i64,
    message_id: i64,
    file_id: &str,
    duration_secs: u32,
) -> Value {
    let content = json!({
        "voice": {
            "file_id": file_id,
            "file_unique_id": format!("U{file_id}"),
            "duration": duration_secs,
            "mime_type": "audio/ogg",
            "file_size": 4_000 * u64::from(duration_secs.max(1)),
        },
    });
    message_update(update_id, user_message(user_id, message_id, content))
}

/// A shared location.
pub fn location(update_id: i64, user_id: i64, message_id: i64, lat: f64, lon: f64) -> Value {
    let content = json!({ "location": { "latitude": lat, "longitude": lon } });
    message_update(update_id, user_message(user_id, message_id, content))
}

/// A shared contact; `contact_user_id` is set when the contact is a
/// Telegram user (the sender's own id when they share their own number).
pub fn contact(
    update_id: i64,
    user_id: i64,
    message_id: i64,
    phone: &str,
    contact_user_id: Option<i64>,
) -> Value {
    let mut contact = json!({ "phone_number": phone, "first_name": USER_FIRST_NAME });
    if let Some(id) = contact_user_id {
        contact["user_id"] = json!(id);
    }
    message_update(
        update_id,
        user_message(user_id, message_id, json!({ "contact": contact })),
    )
}

/// A press on an inline keyboard button under the bot's message
/// `bot_message_id` in the user's private chat.
pub fn callback(
    update_id: i64,
    user_id: i64,
    callback_id: &str,
    data: &str,
    bot_message_id: i64,
) -> Value {
    let message = json!({
        "message_id": bot_message_id,
        "from": bot_user(BOT_ID),
        "chat": private_chat(user_id),
        "date": now() - 60,
        "text": "Choose one",
        "reply_markup": {
            "inline_keyboard": [[{ "text": data, "callback_data": data }]],
        },
    });
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": callback_id,
            "from": user(user_id),
            "message": message,
            "chat_instance": format!("-{user_id}0042"),
            "data": data,
        },
    })
}

/// An `edited_message`: the user's message `message_id` now reads
/// `new_text`.
pub fn edited_text(update_id: i64, user_id: i64, message_id: i64, new_text: &str) -> Value {
    let mut message = user_message(user_id, message_id, json!({ "text": new_text }));
    message["date"] = json!(now() - 30);
    message["edit_date"] = json!(now());
    json!({ "update_id": update_id, "edited_message": message })
}

/// A text message in a basic group (`group_chat_id` is negative).
pub fn group_text(
    update_id: i64,
    user_id: i64,
    group_chat_id: i64,
    message_id: i64,
    text: &str,
) -> Value {
    let mut message = user_message(user_id, message_id, json!({ "text": text }));
    message["chat"] = json!({
        "id": group_chat_id,
        "type": "group",
        "title": "Warga RT 05",
    });
    message_update(update_id, message)
}

// ---------------------------------------------------------------------------

/// The fake checked against teloxide itself and against Telegram's
/// documented getUpdates semantics.
#[cfg(test)]
mod tests {
    use super::*;

    use salur_channel_telegram::teloxide;
    use teloxide::net::Download;
    use teloxide::prelude::*;
    use teloxide::types::{
        CallbackQuery, FileId, InlineKeyboardButton, InlineKeyboardMarkup, Message,
        MessageEntityKind, MessageId, Seconds, Update, UpdateKind,
    };
    use teloxide::{ApiError, RequestError};

    fn bot(fake: &FakeBot) -> Bot {
        Bot::new(&fake.token).set_api_url(fake.api_url.parse().unwrap())
    }

    async fn raw(fake: &FakeBot, method: &str, body: Value) -> Value {
        reqwest::Client::new()
            .post(fake.method_url(method))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn ids(answer: &Value) -> Vec<i64> {
        answer["result"]
            .as_array()
            .unwrap_or_else(|| panic!("not a list of updates: {answer}"))
            .iter()
            .map(update_id)
            .collect()
    }

    #[tokio::test]
    async fn teloxide_sends_edits_and_answers_through_the_fake() {
        let fake = FakeBot::start(TOKEN).await;
        let bot = bot(&fake);

        let me = bot.get_me().await.unwrap();
        assert_eq!(me.username(), BOT_USERNAME);
        assert_eq!(me.id.0, 7_000_000_001);

        let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Ya", "yes")]]);
        let first = bot
            .send_message(ChatId(42), "Halo, Budi")
            .reply_markup(keyboard.clone())
            .await
            .unwrap();
        assert_eq!(first.id, MessageId(1000));
        assert_eq!(first.text(), Some("Halo, Budi"));
        assert_eq!(first.chat.id, ChatId(42));
        assert_eq!(first.from.as_ref().map(|u| u.is_bot), Some(true));
        assert_eq!(first.reply_markup(), Some(&keyboard));
        let second = bot.send_message(ChatId(42), "Kedua").await.unwrap();
        assert_eq!(second.id, MessageId(1001));
        let other_chat = bot.send_message(ChatId(43), "Lain").await.unwrap();
        assert_eq!(other_chat.id, MessageId(1000));

        let sent = fake.sent();
        assert_eq!(sent.len(), 3);
        assert_eq!((sent[0].chat_id, sent[0].message_id), (42, 1000));
        assert_eq!(sent[0].text, "Halo, Budi");
        assert!(sent[0].reply_markup.as_ref().unwrap()["inline_keyboard"].is_array());
        assert_eq!(sent[1].reply_markup, None);

        let edited = bot
            .edit_message_text(ChatId(42), first.id, "Terima kasih")
            .await
            .unwrap();
        assert_eq!(edited.id, first.id);
        assert_eq!(edited.text(), Some("Terima kasih"));
        assert!(edited.edit_date().is_some());
        assert_eq!(fake.edits()[0].text, "Terima kasih");

        let same = bot
            .edit_message_text(ChatId(42), first.id, "Terima kasih")
            .await
            .unwrap_err();
        assert!(
            matches!(same, RequestError::Api(ApiError::MessageNotModified)),
            "{same:?}"
        );
        let missing = bot
            .edit_message_text(ChatId(42), MessageId(999), "x")
            .await
            .unwrap_err();
        assert!(
            matches!(missing, RequestError::Api(ApiError::MessageToEditNotFound)),
            "{missing:?}"
        );

        bot.answer_callback_query("cb-1".into()).await.unwrap();
        assert_eq!(fake.callback_answers()[0]["callback_query_id"], "cb-1");

        let wrong = Bot::new("1:wrong")
            .set_api_url(fake.api_url.parse().unwrap())
            .get_me()
            .await
            .unwrap_err();
        assert!(
            matches!(wrong, RequestError::Api(ApiError::InvalidToken)),
            "{wrong:?}"
        );
    }

    #[tokio::test]
    async fn teloxide_gets_and_downloads_files() {
        let fake = FakeBot::start(TOKEN).await;
        let bot = bot(&fake);
        let bytes = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
        let path = fake.add_file("AgACphoto", bytes.clone());

        let file = bot.get_file(FileId("AgACphoto".into())).await.unwrap();
        assert_eq!(file.path, path);
        assert_eq!(u64::from(file.meta.size), bytes.len() as u64);
        let mut downloaded: Vec<u8> = Vec::new();
        bot.download_file(&file.path, &mut downloaded)
            .await
            .unwrap();
        assert_eq!(downloaded, bytes);
        assert_eq!(fake.downloads(), 1);

        let unknown = bot.get_file(FileId("nope".into())).await.unwrap_err();
        assert!(
            matches!(&unknown, RequestError::Api(ApiError::Unknown(d)) if d == INVALID_FILE_ID),
            "{unknown:?}"
        );
        fake.add_file_sized("huge", Vec::new(), MAX_DOWNLOAD + 1);
        let big = bot.get_file(FileId("huge".into())).await.unwrap_err();
        assert!(
            matches!(&big, RequestError::Api(ApiError::Unknown(d)) if d == FILE_TOO_BIG),
            "{big:?}"
        );

        let status = reqwest::get(format!(
            "{}/file/bot{}/photos/none.jpg",
            fake.api_url, fake.token
        ))
        .await
        .unwrap()
        .status();
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn teloxide_sees_webhook_conflict_block_and_flood_limit() {
        let fake = FakeBot::start(TOKEN).await;
        let bot = bot(&fake);

        let https = bot
            .set_webhook("http://example.com/hook".parse().unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(https, RequestError::Api(ApiError::WebhookRequireHttps)),
            "{https:?}"
        );
        bot.set_webhook("http://127.0.0.1:9/hook".parse().unwrap())
            .secret_token("s3cret_token-1")
            .await
            .unwrap();
        assert_eq!(
            fake.webhook(),
            Some((
                "http://127.0.0.1:9/hook".to_owned(),
                Some("s3cret_token-1".to_owned())
            ))
        );
        let info = bot.get_webhook_info().await.unwrap();
        assert_eq!(
            info.url.map(String::from).as_deref(),
            Some("http://127.0.0.1:9/hook")
        );
        let conflict = bot.get_updates().await.unwrap_err();
        assert!(
            matches!(&conflict, RequestError::Api(ApiError::Unknown(d)) if d == WEBHOOK_CONFLICT),
            "{conflict:?}"
        );
        bot.delete_webhook().await.unwrap();
        assert_eq!(fake.webhook(), None);
        assert!(bot.get_updates().await.unwrap().is_empty());

        fake.block_chat(77);
        let blocked = bot.send_message(ChatId(77), "halo").await.unwrap_err();
        assert!(
            matches!(blocked, RequestError::Api(ApiError::BotBlocked)),
            "{blocked:?}"
        );

        fake.rate_limit_next(2, 7);
        for _ in 0..2 {
            let limited = bot.send_message(ChatId(5), "halo").await.unwrap_err();
            assert!(
                matches!(limited, RequestError::RetryAfter(s) if s == Seconds::from_seconds(7)),
                "{limited:?}"
            );
        }
        fake.fail_next_send_400("Bad Request: chat not found");
        let bad = bot.send_message(ChatId(5), "halo").await.unwrap_err();
        assert!(
            matches!(bad, RequestError::Api(ApiError::ChatNotFound)),
            "{bad:?}"
        );
        bot.send_message(ChatId(5), "halo").await.unwrap();
        assert_eq!(fake.send_attempts(), 5);
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(
            fake.wait_sent(1, Duration::from_secs(1)).await[0].chat_id,
            5
        );
    }

    /// One update of each builder, with what teloxide must see in it.
    fn every_builder(fake: &FakeBot) -> Vec<Value> {
        let id = || fake.next_update_id();
        vec![
            with_language(text(id(), 11, 1, "jalan rusak"), "en"),
            command(id(), 11, 2, "/lapor jalan rusak"),
            photo(id(), 11, 3, "AgACbig", Some("lubang"), Some("album-1")),
            document(id(), 11, 4, "BQACdoc", "surat.pdf", "application/pdf", None),
            voice(id(), 11, 5, "AwACvoice", 4),
            location(id(), 11, 6, -6.2, 106.8),
            contact(id(), 11, 7, "+6281234567890", Some(11)),
            callback(id(), 11, "cb-7", "yes", 1000),
            edited_text(id(), 11, 1, "jalan rusak parah"),
            group_text(id(), 11, -4_001, 8, "halo grup"),
        ]
    }

    #[tokio::test]
    async fn every_builder_deserializes_as_a_teloxide_update() {
        let fake = FakeBot::start(TOKEN).await;
        let built = every_builder(&fake);
        // teloxide turns a payload it can't read into `UpdateKind::Error`
        // and drops serde's reason, so read the payloads alone first.
        for u in &built {
            let payload = u[update_kind(u)].clone();
            let read = match update_kind(u) {
                "callback_query" => serde_json::from_value::<CallbackQuery>(payload).map(drop),
                _ => serde_json::from_value::<Message>(payload).map(drop),
            };
            read.unwrap_or_else(|e| panic!("{e}: {u}"));
        }
        // Read from text, as teloxide does: `serde_json::from_value::<Update>`
        // gives `UpdateKind::Error` for every update in teloxide-core 0.13
        // (its UpdateKind visitor first asks for a borrowed `&str` key, which
        // a `Value` can't lend, and the failed attempt eats the key).
        let updates: Vec<Update> = built
            .into_iter()
            .map(|u| serde_json::from_str(&u.to_string()).unwrap_or_else(|e| panic!("{e}: {u}")))
            .collect();
        for u in &updates {
            assert!(!matches!(u.kind, UpdateKind::Error(_)), "{u:?}");
        }
        let message = |i: usize| match &updates[i].kind {
            UpdateKind::Message(m) | UpdateKind::EditedMessage(m) => m.clone(),
            other => panic!("update {i} is no message: {other:?}"),
        };
        assert_eq!(message(0).text(), Some("jalan rusak"));
        assert_eq!(
            message(0).from.unwrap().language_code.as_deref(),
            Some("en")
        );
        let cmd = message(1);
        assert!(cmd.text().unwrap().starts_with('/'));
        let entity = &cmd.entities().unwrap()[0];
        assert_eq!(entity.kind, MessageEntityKind::BotCommand);
        assert_eq!((entity.offset, entity.length), (0, "/lapor".len()));
        let photo = message(2);
        assert_eq!(photo.photo().unwrap().last().unwrap().file.id.0, "AgACbig");
        assert_eq!(photo.caption(), Some("lubang"));
        assert_eq!(photo.media_group_id().unwrap().0, "album-1");
        assert_eq!(message(3).document().unwrap().file.id.0, "BQACdoc");
        assert_eq!(message(4).voice().unwrap().duration.seconds(), 4);
        assert!((message(5).location().unwrap().latitude + 6.2).abs() < 1e-9);
        assert_eq!(message(6).contact().unwrap().phone_number, "+6281234567890");
        let UpdateKind::CallbackQuery(query) = &updates[7].kind else {
            panic!("no callback query: {:?}", updates[7]);
        };
        assert_eq!(query.data.as_deref(), Some("yes"));
        assert_eq!(query.regular_message().unwrap().id, MessageId(1000));
        assert!(matches!(updates[8].kind, UpdateKind::EditedMessage(_)));
        assert!(message(8).edit_date().is_some());
        assert!(message(9).chat.is_group());
        assert_eq!(message(9).chat.id, ChatId(-4_001));

        // The same updates through teloxide's own getUpdates.
        let pushed = every_builder(&fake);
        let count = pushed.len();
        for update in pushed {
            fake.push(update);
        }
        let polled = bot(&fake).get_updates().await.unwrap();
        assert_eq!(polled.len(), count);
        assert!(
            polled
                .iter()
                .all(|u| !matches!(u.kind, UpdateKind::Error(_)))
        );
    }

    #[tokio::test]
    async fn get_updates_confirms_by_offset_and_long_polls() {
        let fake = FakeBot::start(TOKEN).await;
        let [a, b, c] = [0; 3].map(|_| fake.next_update_id());
        for id in [a, b, c] {
            fake.push(text(id, 11, id, "halo"));
        }

        assert_eq!(ids(&raw(&fake, "getUpdates", json!({})).await), [a, b, c]);
        assert_eq!(
            ids(&raw(&fake, "getUpdates", json!({ "limit": 1 })).await),
            [a]
        );
        assert_eq!(
            ids(&raw(&fake, "getUpdates", json!({ "offset": b })).await),
            [b, c]
        );
        assert_eq!(fake.queued(), [b, c]);

        // Case-insensitive names and query-string parameters.
        let answer: Value = reqwest::Client::new()
            .post(format!("{}?offset={c}", fake.method_url("GETUPDATES")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ids(&answer), [c]);
        assert_eq!(fake.queued(), [c]);

        let started = std::time::Instant::now();
        let empty = raw(
            &fake,
            "getUpdates",
            json!({ "offset": c + 1, "timeout": 1 }),
        )
        .await;
        let waited = started.elapsed();
        assert_eq!(ids(&empty), Vec::<i64>::new());
        assert!(
            waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        assert!(fake.queued().is_empty());

        let poller = {
            let fake = fake.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let answer = raw(
                    &fake,
                    "getUpdates",
                    json!({ "offset": c + 1, "timeout": 10 }),
                )
                .await;
                (answer, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let d = fake.next_update_id();
        fake.push(text(d, 11, d, "bangun"));
        let (answer, waited) = poller.await.unwrap();
        assert_eq!(ids(&answer), [d]);
        assert!(waited < Duration::from_secs(5), "{waited:?}");

        let calls = fake.get_updates_calls();
        assert_eq!(calls[0], (None, None));
        assert_eq!(calls.last(), Some(&(Some(c + 1), Some(10))));
    }

    #[tokio::test]
    async fn wrong_tokens_unknown_methods_and_forms_answer_like_telegram() {
        let fake = FakeBot::start(TOKEN).await;
        let client = reqwest::Client::new();

        let wrong = client
            .post(format!("{}/bot1:nope/getMe", fake.api_url))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        assert_eq!(
            wrong.json::<Value>().await.unwrap(),
            json!({ "ok": false, "error_code": 401, "description": "Unauthorized" })
        );
        let unknown = client
            .post(fake.method_url("sendTelepathy"))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404);
        assert_eq!(
            unknown.json::<Value>().await.unwrap(),
            json!({ "ok": false, "error_code": 404, "description": "Not Found" })
        );

        let form = client
            .post(fake.method_url("sendmessage"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("chat_id=42&text=halo+dunia%21&reply_markup=%7B%22remove_keyboard%22%3Atrue%7D")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(form["result"]["text"], "halo dunia!");
        let sent = fake.sent();
        assert_eq!(
            sent[0].reply_markup,
            Some(json!({ "remove_keyboard": true }))
        );

        fake.rate_limit_next(1, 3);
        let limited = raw(&fake, "sendMessage", json!({ "chat_id": 42, "text": "x" })).await;
        assert_eq!(
            limited,
            json!({
                "ok": false,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": { "retry_after": 3 },
            })
        );
        let bad_hook = raw(
            &fake,
            "setWebhook",
            json!({ "url": "http://10.0.0.1/hook" }),
        )
        .await;
        assert_eq!(bad_hook["error_code"], 400);
        let info = raw(&fake, "getWebhookInfo", json!({})).await;
        assert_eq!(info["result"]["url"], "");
    }

    #[tokio::test]
    async fn a_hold_keeps_the_confirming_call_hanging() {
        let fake = FakeBot::start(TOKEN).await;
        let [a, b] = [0; 2].map(|_| fake.next_update_id());
        fake.push(text(a, 11, 1, "satu"));
        fake.push(text(b, 11, 2, "dua"));
        assert_eq!(ids(&raw(&fake, "getUpdates", json!({})).await), [a, b]);

        fake.hold_confirm();
        // A call that confirms nothing is not caught.
        assert_eq!(
            ids(&raw(&fake, "getUpdates", json!({ "offset": a })).await),
            [a, b]
        );
        let hung = tokio::time::timeout(
            Duration::from_millis(500),
            raw(
                &fake,
                "getUpdates",
                json!({ "offset": b + 1, "timeout": 0 }),
            ),
        )
        .await;
        assert!(hung.is_err(), "the held call answered: {hung:?}");
        fake.wait_held(Duration::from_secs(1)).await;
        assert_eq!(fake.queued(), [a, b]);

        fake.release_hold();
        assert_eq!(
            ids(&raw(&fake, "getUpdates", json!({ "offset": b + 1 })).await),
            Vec::<i64>::new()
        );
        assert!(fake.queued().is_empty());
        assert_eq!(fake.held(), 1);
    }
}
