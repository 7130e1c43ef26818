//! Seeded, deterministic synthetic corpora for benchmarks and tests.
//!
//! This module owns the *test-data generator*: it writes realistic
//! customer-support traffic (plain-text chat transcripts and JSON ticket
//! exports) and reports, next to the bytes, every sensitive value it planted
//! (`secrets`) and every harmless value that merely *looks* numeric
//! (`decoys`: order numbers, tracking numbers, ticket ids, UUIDs, prices,
//! dates, versions). Tests assert that secrets disappear and decoys survive;
//! benches use the bytes as realistic input.
//!
//! Everything is code, not data files, and uses no external crates: a
//! SplitMix64 generator drives template choice, so the same `(seed, len,
//! density)` always yields the same bytes on every platform.
//!
//! Conventions the engine and its tests can rely on:
//! - Sensitive values come from fixed lists of public test values (Luhn-valid
//!   test cards, mod-97-valid example IBANs, routing numbers with a valid ABA
//!   checksum, SSNs with a valid area/group/serial) or are generated in
//!   fictional ranges (`555-01xx` phones, `example.com`/`example.org` mails).
//! - Each secret is recorded exactly as written, once per occurrence: a card
//!   as `"4111 1111 1111 1111"`, a balance as the amount with its attached
//!   currency marker (`"$12,345.67"`, `"USD 900"`, `"2.345,67 EUR"`,
//!   `"1 234,56 €"`), a CVV/expiry/password/date of birth as the bare value.
//! - Short secrets (CVVs, expiries) can occur as substrings of other text;
//!   check them as standalone tokens. CVVs are never 2025/2026 and no decoy
//!   contains a standalone 3-4 digit number (UUID groups always contain a
//!   hex letter, prices stay below 100).
//! - Decoys never share a line with a sensitive keyword, and every line that
//!   carries a secret (or an adversarial payload) is followed by a neutral
//!   line without digits, so context windows do not reach a decoy.
//! - [`Density::Adversarial`] plants no secrets; its only decoys besides the
//!   ordinary chatter are standalone 16-digit numbers that fail Luhn.

/// How many sensitive values a corpus carries, or whether it is hostile input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Density {
    /// About one sensitive value per 500 bytes.
    Dense,
    /// About one sensitive value per 5 KB.
    Typical,
    /// Ordinary chatter only: no sensitive values at all.
    Clean,
    /// Chatter mixed with pathological input (long digit runs, Luhn near
    /// misses, `@` floods, endless digit groups, keyword spam); no secrets.
    Adversarial,
}

impl Density {
    /// Average number of bytes between two planted secrets.
    fn interval(self) -> Option<f64> {
        match self {
            Density::Dense => Some(500.0),
            Density::Typical => Some(5000.0),
            Density::Clean | Density::Adversarial => None,
        }
    }
}

/// Output of the generator: the bytes, and every sensitive value planted in
/// them (exactly as written in the text, e.g. "4111 1111 1111 1111").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    /// The generated text (UTF-8).
    pub bytes: Vec<u8>,
    /// Every sensitive value, as written, one entry per occurrence.
    pub secrets: Vec<String>,
    /// Numeric-looking harmless values that must survive redaction.
    pub decoys: Vec<String>,
}

/// Plain-text chat transcript of about `len` bytes (stop at the first line
/// end after len).
///
/// Lines look like
/// `[2026-03-14 09:12:33] Agent (Maria): Thanks for waiting, ...`; chats are
/// separated by a blank line and a `--- chat TCK-2026-000123 ... ---` header.
#[must_use]
pub fn transcript(seed: u64, len: usize, density: Density) -> Corpus {
    let mut g = Gen::new(seed, density);
    let mut out = String::with_capacity(len + 2048);
    let mut body = String::with_capacity(256);
    'outer: while out.len() < len {
        g.start_conversation();
        out.push_str("--- chat ");
        g.fill("ticket", &mut out);
        out.push_str(" via ");
        out.push_str(g.pick(CHANNELS));
        out.push_str(" ---\n");
        let turns = g.range(6, 24);
        let mut i = 0;
        // Finish with any pending neutral follow-up so a secret or
        // adversarial line never sits right before the next chat header.
        while i < turns || g.follow_up.is_some() {
            if out.len() >= len {
                break 'outer;
            }
            let speaker = g.compose(out.len(), &mut body, None);
            out.push('[');
            g.clock.push(&mut out, ' ', "");
            out.push_str("] ");
            match speaker {
                Speaker::Agent => {
                    out.push_str("Agent (");
                    out.push_str(g.agent);
                    out.push_str("): ");
                }
                Speaker::Customer => out.push_str("Customer: "),
                Speaker::System => out.push_str("System: "),
            }
            out.push_str(&body);
            out.push('\n');
            g.clock.tick(&mut g.rng);
            i += 1;
        }
        if out.len() < len {
            out.push('\n');
        }
    }
    g.finish(out)
}

/// The same kind of content as a JSON array of ticket objects (valid JSON;
/// pretty-ish with newlines), about `len` bytes.
///
/// Secrets appear both in free-text `"message"` strings and in fields such as
/// `"card_number"`, `"iban"`, `"ssn"`, `"balance"`, `"email"`, `"phone"`,
/// `"date_of_birth"`, `"routing_number"`/`"account_number"` (cards and
/// balances sometimes as bare JSON numbers, e.g.
/// `"card_number": 4111111111111111`). Decoys appear in `"id"`, `"uuid"`,
/// `"created_at"`, `"order_id"` (bare number), `"total_price"` (bare number),
/// `"app_version"`, `"tracking"` and in messages.
#[must_use]
pub fn json_tickets(seed: u64, len: usize, density: Density) -> Corpus {
    let mut g = Gen::new(seed, density);
    let mut out = String::with_capacity(len + 4096);
    let mut body = String::with_capacity(256);
    let mut fields: Vec<(&'static str, String)> = Vec::new();
    out.push('[');
    let mut first = true;
    while out.len() < len {
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        g.ticket(&mut out, &mut body, &mut fields);
    }
    out.push_str(if first { "]\n" } else { "\n]\n" });
    g.finish(out)
}

// ---------------------------------------------------------------------------
// PRNG

/// SplitMix64: tiny, fast, statistically fine for test data, portable.
struct Rng {
    state: u64,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Rng {
            state: seed ^ 0x6A09_E667_F3BC_C909,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn digit(&mut self) -> u8 {
        self.below(10) as u8
    }
}

// ---------------------------------------------------------------------------
// Fixed value lists

/// Luhn-valid public test card numbers.
const CARDS: &[&str] = &[
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "3530111333300000",
    "2223003122003222",
    "4012888888881881",
    "5105105105105100",
];

/// Mod-97-valid example IBANs (compact form).
const IBANS: &[&str] = &[
    "GB82WEST12345698765432",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "BE68539007547034",
    "CH9300762011623852957",
];

/// SSNs with a valid area (not 000/666/9xx), group (not 00), serial (not
/// 0000); the well-known invalid 123-45-6789 and 078-05-1120 are avoided.
const SSNS: &[&str] = &[
    "219-45-6789",
    "512-38-4417",
    "401-72-9038",
    "665-12-3456",
    "731-04-2298",
    "287-65-4321",
    "058-31-7702",
    "345-67-1290",
];

/// ABA routing numbers with a valid checksum.
const ROUTING: &[&str] = &[
    "021000021",
    "011000015",
    "026009593",
    "121000248",
    "111000025",
    "322271627",
    "071000013",
    "021000089",
];

/// Passwords: no quotes, backslashes or `@`, so JSON needs no escaping.
const PASSWORDS: &[&str] = &[
    "Hunter2!x",
    "Tr0ub4dor&3",
    "S3cure#Lake",
    "blue-Falcon-77",
    "Winter!Moss8",
    "mangoTree$42",
    "Qz7!plover",
    "Kettle%Drum5",
];

const AGENTS: &[&str] = &[
    "Maria", "James", "Priya", "Tomasz", "Aiko", "Lukas", "Fatima", "Diego", "Chloé", "Sven",
];

const FIRST: &[&str] = &[
    "Daniel", "Sofia", "Ahmed", "Emma", "Kenji", "Olivia", "Mateo", "Hannah", "Luca", "Zoe",
    "Noah", "Amara", "Grace", "Ivan", "Leila", "Oscar",
];

const LAST: &[&str] = &[
    "Smith",
    "Garcia",
    "Mueller",
    "Okafor",
    "Tanaka",
    "Rossi",
    "Novak",
    "Dubois",
    "Kowalski",
    "Johansson",
    "Patel",
    "Moreau",
    "Fischer",
    "Lopez",
    "Nguyen",
    "Brennan",
];

const PRODUCTS: &[&str] = &[
    "wireless earbuds",
    "standing desk",
    "coffee grinder",
    "laptop sleeve",
    "hiking backpack",
    "smart thermostat",
    "yoga mat",
    "mechanical keyboard",
    "desk lamp",
    "water bottle",
];

const CHANNELS: &[&str] = &["web chat", "mobile app", "web chat", "messenger"];

const STATUSES: &[&str] = &["open", "pending", "resolved", "closed"];

const TAGS: &[&str] = &[
    "shipping", "refund", "returns", "app", "delivery", "exchange", "billing", "general",
];

// ---------------------------------------------------------------------------
// Templates. `{key}` placeholders are filled by `Gen::fill`.

/// Agent greeting, always the first line of a chat.
const GREETINGS: &[&str] = &[
    "Hi {first}, thanks for reaching out! How can I help you today?",
    "Hello {first}, my name is {agent}. What can I do for you?",
    "Good morning {first}, thanks for contacting support.",
    "Hi there {first}! I'm {agent} and I'll be helping you today.",
];

/// Agent lines with decoys. Must not contain sensitive keywords.
const AGENT_DECOY: &[&str] = &[
    "Thanks for waiting, I can see your order #{order_a} shipped on {date}.",
    "Order {order} left our warehouse on {date}, tracking number {tracking}.",
    "Your parcel {tracking} is with the courier and should arrive by {date}.",
    "I've opened ticket {ticket} for this, you'll get an update within 24 hours.",
    "The refund of {price} for order {order} was issued on {date}; it can take 5-7 business days to show up.",
    "That model is {price} at the moment and ships within 2-3 days.",
    "Could you update the app? The fix is in {version}, released on {date}.",
    "For our records, the reference for this chat is {uuid}.",
    "I can see two orders on your profile: {order} and {order}.",
    "The replacement ({sku}) is in stock for {price}.",
    "I've escalated this to our logistics team under case {ticket}.",
    "The courier tried to deliver on {date} at {time}, but nobody was home.",
    "Firmware {version} fixes the Bluetooth pairing issue you described.",
    "I've applied a {pct}% discount to order {order}.",
    "The {product} is {price} right now, it was {price} last week.",
    "Das Paket mit der Sendungsnummer {tracking} wurde am {date} zugestellt.",
    "Votre commande {order} a été expédiée le {date}.",
    "Su pedido {order} llegará el {date}.",
    "I've reissued the order as #{order_a}; the old one was cancelled on {date}.",
    "Your return label is attached, reference {uuid}.",
    "Order {order} ({qty} items) is ready for pickup from {date} after {time}.",
];

/// Agent lines without any digits or keywords.
const AGENT_NEUTRAL: &[&str] = &[
    "Let me check that for you, one moment please.",
    "I'm sorry about the trouble with that.",
    "Could you tell me a bit more about what happened?",
    "I understand, that's really frustrating.",
    "Is there anything else I can help you with?",
    "I've added a note so the next agent has the full context.",
    "No problem at all, happy to help.",
    "Thanks for your patience while I look into this.",
    "You're welcome, have a great day!",
    "I'll keep an eye on it and follow up with you.",
];

/// Customer lines with decoys. Must not contain sensitive keywords.
const CUSTOMER_DECOY: &[&str] = &[
    "Hi, I ordered a {product} on {date} and it still hasn't arrived.",
    "My order number is {order}.",
    "it says order #{order_a} but tracking {tracking} hasn't updated in days",
    "How much is the {product}? The website says {price}.",
    "I'm on {version} and the app keeps crashing on startup",
    "Can I get a refund? I paid {price} for it.",
    "The box was damaged, item {sku} is broken :(",
    "I got a notification about ticket {ticket}, what is that about?",
    "Error ID {uuid} shows up every time I try to check out.",
    "the delivery slot said {time} but nobody came",
    "I'd like to exchange {sku} for the larger size, it was {price}",
    "The {product} I bought for {price} stopped working after a week.",
    "Bonjour, ma commande {order} n'est toujours pas arrivée.",
    "Hallo, ich warte seit dem {date} auf meine Bestellung {order}.",
    "I have {qty} parcels from order {order} but only one arrived",
];

/// Customer lines without any digits or keywords (some need JSON escaping).
const CUSTOMER_NEUTRAL: &[&str] = &[
    "ok thanks",
    "Hello?\nanyone there?",
    "That's great, thank you so much!",
    "No, that's everything.",
    "the app says \"payment declined\" but my bank says everything is fine",
    "I saved the invoice to C:\\Users\\me\\Downloads\\invoice.pdf but it won't open",
    "Sorry, my connection dropped.",
    "Can you check again please?",
    "\tthanks :)",
    "Thanks! 🙏",
    "Hmm, ok. Let me know.",
];

/// Follow-ups from the agent after a customer shared something sensitive.
const AGENT_ACK: &[&str] = &[
    "Thank you, one moment while I verify that.",
    "Got it, let me pull that up.",
    "Thanks! I've noted that on the ticket.",
    "Perfect, that matches what we have on file.",
];

/// Follow-ups from the customer after the agent shared something sensitive.
const CUSTOMER_ACK: &[&str] = &[
    "Oh wow, ok.",
    "Hmm, that's more than I expected.",
    "Right, thanks for checking.",
    "Can you send me a breakdown of that?",
];

/// Lines carrying secrets, with who says them. No decoy placeholders.
const SENSITIVE: &[(Speaker, &str)] = &[
    (Speaker::Customer, "my card is {card} and it expires {exp}"),
    (Speaker::Customer, "card number {card}, CVV {cvv}"),
    (
        Speaker::Customer,
        "I paid with {card}, the security code is {cvv}",
    ),
    (Speaker::Customer, "the one I used is {card}"),
    (
        Speaker::Customer,
        "please send the refund to my IBAN {iban}",
    ),
    (Speaker::Customer, "IBAN: {iban}"),
    (Speaker::Customer, "for verification, SSN {ssn}"),
    (Speaker::Customer, "my social security number is {ssn}"),
    (Speaker::Customer, "you can reach me at {email}"),
    (Speaker::Customer, "my email is {email}"),
    (Speaker::Customer, "please call me back on {phone}"),
    (
        Speaker::Customer,
        "my number is {phone}, after five is best",
    ),
    (Speaker::Customer, "DOB: {dob_iso}"),
    (Speaker::Customer, "sure, date of birth {dob_eu}"),
    (Speaker::Customer, "my password is {pw} if that helps"),
    (
        Speaker::Customer,
        "routing number {routing}, account number {acct}",
    ),
    (
        Speaker::Agent,
        "I checked and your balance is {bal_usd} as of this morning",
    ),
    (Speaker::Agent, "Your available balance: {bal_eur}"),
    (
        Speaker::Agent,
        "According to our records you owe {bal_gbp} on this plan",
    ),
    (
        Speaker::Agent,
        "There is an outstanding balance of {bal_usd_code} on the invoice",
    ),
    (Speaker::Agent, "Ihr aktueller Kontostand: {bal_de}"),
    (Speaker::Agent, "Votre solde disponible : {bal_fr}"),
    (
        Speaker::Agent,
        "Su saldo pendiente {bal_es} vence el mes que viene",
    ),
    (
        Speaker::Agent,
        "I'll send the confirmation to {email} right away",
    ),
];

/// Structured JSON fields that can carry a secret.
const FIELDS: &[&str] = &[
    "card_number",
    "iban",
    "ssn",
    "balance",
    "email",
    "phone",
    "date_of_birth",
    "routing_number",
];

// ---------------------------------------------------------------------------
// Generator

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Speaker {
    Agent,
    Customer,
    System,
}

/// Conversation clock: a date in 2026 plus seconds since midnight.
struct Clock {
    month: u32,
    day: u32,
    secs: u32,
}

impl Clock {
    fn start(&mut self, rng: &mut Rng) {
        self.month = rng.range(1, 4) as u32;
        self.day = rng.range(1, 28) as u32;
        self.secs = (8 * 3600 + rng.below(11 * 3600)) as u32;
    }

    fn tick(&mut self, rng: &mut Rng) {
        self.secs += rng.range(3, 90) as u32;
        if self.secs >= 86_400 {
            self.secs -= 86_400;
            self.day = self.day % 28 + 1;
        }
    }

    /// `2026-03-14<sep>09:12:33<suffix>`
    fn push(&self, buf: &mut String, sep: char, suffix: &str) {
        buf.push_str("2026-");
        push_padded(buf, u64::from(self.month), 2);
        buf.push('-');
        push_padded(buf, u64::from(self.day), 2);
        buf.push(sep);
        push_padded(buf, u64::from(self.secs / 3600), 2);
        buf.push(':');
        push_padded(buf, u64::from(self.secs / 60 % 60), 2);
        buf.push(':');
        push_padded(buf, u64::from(self.secs % 60), 2);
        buf.push_str(suffix);
    }
}

/// What a filled placeholder is.
enum Rec {
    Secret,
    Decoy,
    Plain,
}

struct Gen {
    rng: Rng,
    density: Density,
    secrets: Vec<String>,
    decoys: Vec<String>,
    /// Average bytes per secret, `None` when no secrets are planted.
    interval: Option<f64>,
    /// Byte position at which the next secret is due.
    next_due: f64,
    clock: Clock,
    agent: &'static str,
    first: &'static str,
    last: &'static str,
    /// Index of the next message within the current conversation.
    turn: u32,
    /// A neutral line owed by this speaker (after a secret or adversarial
    /// line), so that nothing numeric follows within a context window.
    follow_up: Option<Speaker>,
    /// Whether the previous message carried a decoy; a secret or
    /// adversarial line is then deferred behind a neutral line.
    prev_decoy: bool,
}

impl Gen {
    fn new(seed: u64, density: Density) -> Self {
        let mut rng = Rng::new(seed);
        let interval = density.interval();
        let next_due = interval.map_or(0.0, |iv| iv * (0.5 + rng.unit()));
        Gen {
            rng,
            density,
            secrets: Vec::new(),
            decoys: Vec::new(),
            interval,
            next_due,
            clock: Clock {
                month: 1,
                day: 1,
                secs: 0,
            },
            agent: AGENTS[0],
            first: FIRST[0],
            last: LAST[0],
            turn: 0,
            follow_up: None,
            prev_decoy: false,
        }
    }

    fn finish(self, out: String) -> Corpus {
        Corpus {
            bytes: out.into_bytes(),
            secrets: self.secrets,
            decoys: self.decoys,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len() as u64) as usize]
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.range(lo, hi)
    }

    fn start_conversation(&mut self) {
        self.clock.start(&mut self.rng);
        self.agent = self.pick(AGENTS);
        self.first = self.pick(FIRST);
        self.last = self.pick(LAST);
        self.turn = 0;
        self.follow_up = None;
        self.prev_decoy = false;
    }

    fn secret_due(&self, pos: usize) -> bool {
        self.interval.is_some() && pos as f64 >= self.next_due
    }

    /// Account for `k` secrets just planted: push the next due point out by
    /// `k` intervals, jittered by ±50%.
    fn planted(&mut self, k: usize) {
        if let Some(iv) = self.interval {
            self.next_due += iv * k as f64 * (0.5 + self.rng.unit());
        }
    }

    /// Write the body of the next message into `body` (cleared first) and
    /// return its speaker. `pos` is the current output size; `fields`, when
    /// given (JSON), may receive a structured secret field instead.
    fn compose(
        &mut self,
        pos: usize,
        body: &mut String,
        fields: Option<&mut Vec<(&'static str, String)>>,
    ) -> Speaker {
        body.clear();
        let decoys_before = self.decoys.len();
        let speaker = self.compose_inner(pos, body, fields);
        self.prev_decoy = self.decoys.len() > decoys_before;
        speaker
    }

    fn compose_inner(
        &mut self,
        pos: usize,
        body: &mut String,
        fields: Option<&mut Vec<(&'static str, String)>>,
    ) -> Speaker {
        self.turn += 1;
        if let Some(speaker) = self.follow_up.take() {
            let tpl = match speaker {
                Speaker::Customer => self.pick(CUSTOMER_ACK),
                _ => self.pick(AGENT_ACK),
            };
            self.render(tpl, body);
            return speaker;
        }
        if self.turn == 1 {
            let tpl = self.pick(GREETINGS);
            self.render(tpl, body);
            return Speaker::Agent;
        }
        let clear = !self.prev_decoy;
        if clear && self.density == Density::Adversarial && self.rng.chance(2, 5) {
            self.adversarial(body);
            self.follow_up = Some(Speaker::Agent);
            return if self.rng.chance(1, 3) {
                Speaker::System
            } else {
                Speaker::Customer
            };
        }
        if clear && self.secret_due(pos) {
            let as_field = match fields {
                Some(fields) if self.rng.chance(2, 5) => self.add_field(fields),
                _ => false,
            };
            if !as_field {
                let (speaker, tpl) = self.pick(SENSITIVE);
                let before = self.secrets.len();
                self.render(tpl, body);
                let k = self.secrets.len() - before;
                self.planted(k);
                self.follow_up = Some(match speaker {
                    Speaker::Agent => Speaker::Customer,
                    _ => Speaker::Agent,
                });
                return speaker;
            }
        }
        let speaker = if self.turn & 1 == 1 {
            Speaker::Agent
        } else {
            Speaker::Customer
        };
        // Right before a due secret, keep the line neutral.
        let with_decoy = !self.secret_due(pos) && self.rng.chance(3, 5);
        let tpl = match (speaker, with_decoy) {
            (Speaker::Agent, true) => self.pick(AGENT_DECOY),
            (Speaker::Agent, false) => self.pick(AGENT_NEUTRAL),
            (_, true) => self.pick(CUSTOMER_DECOY),
            (_, false) => self.pick(CUSTOMER_NEUTRAL),
        };
        self.render(tpl, body);
        speaker
    }

    /// Expand `{key}` placeholders of `tpl` into `buf`.
    fn render(&mut self, tpl: &str, buf: &mut String) {
        let mut rest = tpl;
        while let Some(open) = rest.find('{') {
            buf.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    self.fill(&after[..close], buf);
                    rest = &after[close + 1..];
                }
                None => {
                    buf.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        buf.push_str(rest);
    }

    /// Write one placeholder value and record it as secret or decoy.
    fn fill(&mut self, key: &str, buf: &mut String) {
        let start = buf.len();
        let rec = match key {
            // ---- decoys
            "order" => {
                // Nine digits starting with 10, never passing the ABA
                // routing checksum (so only context can make it sensitive).
                let mut d = [1u8, 0, 0, 0, 0, 0, 0, 0, 0];
                for x in d.iter_mut().skip(2) {
                    *x = self.rng.digit();
                }
                if aba_sum(&d) % 10 == 0 {
                    d[8] = (d[8] + 1) % 10;
                }
                for x in d {
                    buf.push(char::from(b'0' + x));
                }
                Rec::Decoy
            }
            "order_a" => {
                buf.push_str("A-");
                buf.push(char::from(b'1' + self.rng.below(9) as u8));
                self.push_digits(buf, 5);
                Rec::Decoy
            }
            "tracking" => {
                // UPS-like: 1Z + 3 digits + 2 letters + 11 digits (no digit
                // run long enough to look like a card).
                buf.push_str("1Z");
                self.push_digits(buf, 3);
                for _ in 0..2 {
                    buf.push(char::from(b'A' + self.rng.below(26) as u8));
                }
                self.push_digits(buf, 11);
                Rec::Decoy
            }
            "ticket" => {
                buf.push_str("TCK-2026-");
                let n = self.range(1, 99_999);
                push_padded(buf, n, 6);
                Rec::Decoy
            }
            "uuid" => {
                self.push_uuid(buf);
                Rec::Decoy
            }
            "version" => {
                buf.push('v');
                let (a, b, c) = (self.range(1, 5), self.range(0, 30), self.range(0, 20));
                push_u64(buf, a);
                buf.push('.');
                push_u64(buf, b);
                buf.push('.');
                push_u64(buf, c);
                Rec::Decoy
            }
            "date" => {
                self.push_decoy_date(buf);
                Rec::Decoy
            }
            "time" => {
                let (h, m) = (self.range(8, 20), self.range(0, 3) * 15);
                push_padded(buf, h, 2);
                buf.push(':');
                push_padded(buf, m, 2);
                Rec::Decoy
            }
            "price" => {
                self.push_price(buf);
                Rec::Decoy
            }
            "sku" => {
                buf.push_str("SKU-");
                buf.push(char::from(b'1' + self.rng.below(9) as u8));
                self.push_digits(buf, 4);
                buf.push('-');
                buf.push(char::from(b'A' + self.rng.below(6) as u8));
                Rec::Decoy
            }
            // ---- plain words / small numbers
            "qty" => {
                let n = self.range(2, 9);
                push_u64(buf, n);
                Rec::Plain
            }
            "pct" => {
                let n = self.range(1, 6) * 5;
                push_u64(buf, n);
                Rec::Plain
            }
            "first" => {
                buf.push_str(self.first);
                Rec::Plain
            }
            "agent" => {
                buf.push_str(self.agent);
                Rec::Plain
            }
            "product" => {
                let p = self.pick(PRODUCTS);
                buf.push_str(p);
                Rec::Plain
            }
            // ---- secrets
            "card" => {
                let card = self.pick(CARDS);
                let style = self.rng.below(3);
                push_card(buf, card, style);
                Rec::Secret
            }
            "iban" => {
                let iban = self.pick(IBANS);
                if self.rng.chance(1, 2) {
                    push_grouped_chars(buf, iban, 4, ' ');
                } else {
                    buf.push_str(iban);
                }
                Rec::Secret
            }
            "ssn" => {
                let ssn = self.pick(SSNS);
                buf.push_str(ssn);
                Rec::Secret
            }
            "email" => {
                self.push_email(buf);
                Rec::Secret
            }
            "phone" => {
                self.push_phone(buf);
                Rec::Secret
            }
            "cvv" => {
                // 3 digits, or 4 (Amex) outside any year a decoy could show.
                let n = if self.rng.chance(3, 4) {
                    self.range(100, 999)
                } else {
                    self.range(3000, 9999)
                };
                push_u64(buf, n);
                Rec::Secret
            }
            "exp" => {
                let (m, y) = (self.range(1, 12), self.range(26, 32));
                push_padded(buf, m, 2);
                buf.push('/');
                push_u64(buf, y);
                Rec::Secret
            }
            "dob_iso" => {
                let (y, m, d) = self.dob();
                push_u64(buf, y);
                buf.push('-');
                push_padded(buf, m, 2);
                buf.push('-');
                push_padded(buf, d, 2);
                Rec::Secret
            }
            "dob_eu" => {
                let (y, m, d) = self.dob();
                push_padded(buf, d, 2);
                buf.push('/');
                push_padded(buf, m, 2);
                buf.push('/');
                push_u64(buf, y);
                Rec::Secret
            }
            "pw" => {
                let pw = self.pick(PASSWORDS);
                buf.push_str(pw);
                Rec::Secret
            }
            "routing" => {
                let r = self.pick(ROUTING);
                buf.push_str(r);
                Rec::Secret
            }
            "acct" => {
                let n = self.range(10, 12) as usize;
                buf.push(char::from(b'1' + self.rng.below(9) as u8));
                self.push_digits(buf, n - 1);
                Rec::Secret
            }
            "bal_usd" => {
                buf.push('$');
                self.push_amount(buf, ",", '.');
                Rec::Secret
            }
            "bal_eur" => {
                buf.push('€');
                self.push_amount(buf, ".", ',');
                Rec::Secret
            }
            "bal_gbp" => {
                buf.push('£');
                self.push_amount(buf, ",", '.');
                Rec::Secret
            }
            "bal_usd_code" => {
                buf.push_str("USD ");
                let n = self.range(100, 9_999);
                push_thousands(buf, n, ",");
                Rec::Secret
            }
            "bal_de" => {
                self.push_amount(buf, ".", ',');
                buf.push_str(" EUR");
                Rec::Secret
            }
            "bal_fr" => {
                self.push_amount(buf, " ", ',');
                buf.push_str(" €");
                Rec::Secret
            }
            "bal_es" => {
                self.push_amount(buf, ".", ',');
                buf.push_str(" EUR");
                Rec::Secret
            }
            _ => {
                // Unknown placeholder: keep it visible so tests catch it.
                buf.push('{');
                buf.push_str(key);
                buf.push('}');
                Rec::Plain
            }
        };
        match rec {
            Rec::Secret => self.secrets.push(buf[start..].to_owned()),
            Rec::Decoy => self.decoys.push(buf[start..].to_owned()),
            Rec::Plain => {}
        }
    }

    fn push_digits(&mut self, buf: &mut String, n: usize) {
        for _ in 0..n {
            buf.push(char::from(b'0' + self.rng.digit()));
        }
    }

    /// Random UUIDv4 whose every group contains at least one hex letter, so
    /// no group reads as a standalone number.
    fn push_uuid(&mut self, buf: &mut String) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (g, &width) in [8usize, 4, 4, 4, 12].iter().enumerate() {
            if g > 0 {
                buf.push('-');
            }
            let mut chunk = [0u8; 12];
            for c in chunk.iter_mut().take(width) {
                *c = HEX[self.rng.below(16) as usize];
            }
            if g == 2 {
                chunk[0] = b'4';
            }
            if g == 3 {
                chunk[0] = b"89ab"[self.rng.below(4) as usize];
            }
            if chunk[..width].iter().all(u8::is_ascii_digit) {
                let at = 1 + self.rng.below(width as u64 - 1) as usize;
                chunk[at] = b'a' + self.rng.below(6) as u8;
            }
            for &c in &chunk[..width] {
                buf.push(char::from(c));
            }
        }
    }

    fn push_decoy_date(&mut self, buf: &mut String) {
        let (y, m) = if self.rng.chance(1, 5) {
            (2025, self.range(10, 12))
        } else {
            (2026, self.range(1, 6))
        };
        push_u64(buf, y);
        buf.push('-');
        push_padded(buf, m, 2);
        buf.push('-');
        let d = self.range(1, 28);
        push_padded(buf, d, 2);
    }

    /// A price below 100 in one of a few currency styles.
    fn push_price(&mut self, buf: &mut String) {
        let whole = self.range(2, 99);
        let cents = self.pick(&[0u64, 49, 50, 90, 95, 99]);
        match self.rng.below(4) {
            0 | 1 => {
                buf.push('$');
                push_u64(buf, whole);
                buf.push('.');
            }
            2 => {
                buf.push('€');
                push_u64(buf, whole);
                buf.push(',');
            }
            _ => {
                buf.push('£');
                push_u64(buf, whole);
                buf.push('.');
            }
        }
        push_padded(buf, cents, 2);
    }

    /// Amount 1,000.00 ..= 99,999.99 with the given separators.
    fn push_amount(&mut self, buf: &mut String, group: &str, decimal: char) {
        let whole = self.range(1_000, 99_999);
        push_thousands(buf, whole, group);
        buf.push(decimal);
        let cents = self.range(0, 99);
        push_padded(buf, cents, 2);
    }

    fn dob(&mut self) -> (u64, u64, u64) {
        (self.range(1950, 2002), self.range(1, 12), self.range(1, 28))
    }

    fn push_email(&mut self, buf: &mut String) {
        for b in self.first.bytes() {
            buf.push(char::from(b.to_ascii_lowercase()));
        }
        buf.push('.');
        for b in self.last.bytes() {
            buf.push(char::from(b.to_ascii_lowercase()));
        }
        if self.rng.chance(1, 3) {
            let n = self.range(10, 99);
            push_u64(buf, n);
        }
        buf.push_str(if self.rng.chance(1, 2) {
            "@example.com"
        } else {
            "@example.org"
        });
    }

    /// Phones in fictional ranges, in the shapes the engine expects.
    fn push_phone(&mut self, buf: &mut String) {
        match self.rng.below(4) {
            0 => {
                buf.push_str("+1 ");
                let area = self.pick(&["415", "212", "646", "312", "206"]);
                buf.push_str(area);
                buf.push_str(" 555 01");
                self.push_digits(buf, 2);
            }
            1 => {
                buf.push('(');
                let area = self.pick(&["415", "212", "646", "312", "206"]);
                buf.push_str(area);
                buf.push_str(") 555-01");
                self.push_digits(buf, 2);
            }
            2 => {
                buf.push_str("+44 20 7946 0");
                self.push_digits(buf, 3);
            }
            _ => {
                buf.push_str("+49 30 9018");
                self.push_digits(buf, 2);
            }
        }
    }

    /// Try to add a structured secret field to the current JSON ticket.
    /// Returns false when every field kind is already taken.
    fn add_field(&mut self, fields: &mut Vec<(&'static str, String)>) -> bool {
        let offset = self.rng.below(FIELDS.len() as u64) as usize;
        let Some(key) = (0..FIELDS.len())
            .map(|i| FIELDS[(offset + i) % FIELDS.len()])
            .find(|k| fields.iter().all(|(used, _)| used != k))
        else {
            return false;
        };
        let before = self.secrets.len();
        let mut value = String::with_capacity(40);
        match key {
            "card_number" => {
                let card = self.pick(CARDS);
                if self.rng.chance(1, 2) {
                    value.push_str(card);
                    self.secrets.push(card.to_owned());
                } else {
                    value.push('"');
                    self.fill("card", &mut value);
                    value.push('"');
                }
            }
            "balance" => {
                if self.rng.chance(1, 2) {
                    let whole = self.range(1_000, 99_999);
                    let cents = self.range(1, 99);
                    let start = value.len();
                    push_u64(&mut value, whole);
                    value.push('.');
                    push_padded(&mut value, cents, 2);
                    self.secrets.push(value[start..].to_owned());
                } else {
                    value.push('"');
                    let kind = self.pick(&["bal_usd", "bal_eur", "bal_gbp", "bal_de"]);
                    self.fill(kind, &mut value);
                    value.push('"');
                }
            }
            "routing_number" => {
                value.push('"');
                self.fill("routing", &mut value);
                value.push_str("\",\n    \"account_number\": \"");
                self.fill("acct", &mut value);
                value.push('"');
            }
            _ => {
                let ph = match key {
                    "iban" => "iban",
                    "ssn" => "ssn",
                    "email" => "email",
                    "phone" => "phone",
                    _ => "dob_iso",
                };
                value.push('"');
                self.fill(ph, &mut value);
                value.push('"');
            }
        }
        let k = self.secrets.len() - before;
        self.planted(k);
        fields.push((key, value));
        true
    }

    /// One JSON ticket object (no trailing comma or newline).
    fn ticket(
        &mut self,
        out: &mut String,
        body: &mut String,
        fields: &mut Vec<(&'static str, String)>,
    ) {
        self.start_conversation();
        fields.clear();
        out.push_str("  {\n    \"id\": \"");
        self.fill("ticket", out);
        out.push_str("\",\n    \"uuid\": \"");
        self.fill("uuid", out);
        out.push_str("\",\n    \"created_at\": \"");
        let start = out.len();
        self.clock.push(out, 'T', "Z");
        self.decoys.push(out[start..].to_owned());
        out.push_str("\",\n    \"status\": \"");
        out.push_str(self.pick(STATUSES));
        out.push_str("\",\n    \"channel\": \"");
        out.push_str(self.pick(CHANNELS));
        out.push_str("\",\n");
        if self.rng.chance(2, 3) {
            out.push_str("    \"order_id\": ");
            self.fill("order", out);
            out.push_str(",\n    \"total_price\": ");
            let start = out.len();
            push_u64(out, self.rng.range(2, 99));
            out.push('.');
            push_padded(out, self.rng.range(1, 99), 2);
            self.decoys.push(out[start..].to_owned());
            out.push_str(",\n");
        }
        if self.rng.chance(1, 2) {
            out.push_str("    \"app_version\": \"");
            self.fill("version", out);
            out.push_str("\",\n");
        }
        if self.rng.chance(1, 2) {
            out.push_str("    \"tracking\": \"");
            self.fill("tracking", out);
            out.push_str("\",\n");
        }
        if self.density == Density::Adversarial {
            if self.rng.chance(1, 3) {
                // A huge digit string (a string, not a bare number, so
                // f64-based JSON parsers still accept the document).
                out.push_str("    \"reference\": \"");
                out.push(char::from(b'1' + self.rng.below(9) as u8));
                let n = self.range(199, 1999) as usize;
                self.push_digits(out, n);
                out.push_str("\",\n");
            }
            if self.rng.chance(1, 3) {
                out.push_str("    \"legacy_key\": \"");
                self.push_dash_groups(out);
                out.push_str("\",\n");
            }
        }
        out.push_str("    \"messages\": [\n");
        let turns = self.range(3, 10);
        let mut i = 0;
        while i < turns || self.follow_up.is_some() {
            if i > 0 {
                out.push_str(",\n");
            }
            let speaker = self.compose(out.len(), body, Some(fields));
            self.push_message(out, speaker, body);
            i += 1;
        }
        // Keep the last message before the secret fields free of decoys.
        if self.prev_decoy && !fields.is_empty() {
            let speaker = if self.turn & 1 == 0 {
                Speaker::Agent
            } else {
                Speaker::Customer
            };
            body.clear();
            let tpl = match speaker {
                Speaker::Agent => self.pick(AGENT_NEUTRAL),
                _ => self.pick(CUSTOMER_NEUTRAL),
            };
            self.render(tpl, body);
            out.push_str(",\n");
            self.push_message(out, speaker, body);
        }
        out.push_str("\n    ],\n");
        for (key, value) in fields.iter() {
            out.push_str("    \"");
            out.push_str(key);
            out.push_str("\": ");
            out.push_str(value);
            out.push_str(",\n");
        }
        out.push_str("    \"tags\": [\"");
        let first = self.rng.below(TAGS.len() as u64) as usize;
        out.push_str(TAGS[first]);
        if self.rng.chance(1, 2) {
            let step = 1 + self.rng.below(TAGS.len() as u64 - 1) as usize;
            out.push_str("\", \"");
            out.push_str(TAGS[(first + step) % TAGS.len()]);
        }
        out.push_str("\"]\n  }");
    }

    /// One JSON message object; advances the clock.
    fn push_message(&mut self, out: &mut String, speaker: Speaker, body: &str) {
        out.push_str("      {\"from\": \"");
        match speaker {
            Speaker::Agent => {
                out.push_str("agent\", \"agent\": \"");
                out.push_str(self.agent);
            }
            Speaker::Customer => out.push_str("customer"),
            Speaker::System => out.push_str("system"),
        }
        out.push_str("\", \"at\": \"");
        self.clock.push(out, 'T', "Z");
        out.push_str("\", \"message\": \"");
        push_json_escaped(out, body);
        out.push_str("\"}");
        self.clock.tick(&mut self.rng);
    }

    // ---- adversarial payloads (single line, JSON-safe characters only)

    fn adversarial(&mut self, buf: &mut String) {
        match self.rng.below(9) {
            0 => {
                buf.push_str("log dump: ");
                buf.push(char::from(b'1' + self.rng.below(9) as u8));
                let n = self.range(199, 1999) as usize;
                self.push_digits(buf, n);
            }
            1 => {
                buf.push_str("import rejected these ids: ");
                let count = self.range(3, 8);
                for i in 0..count {
                    if i > 0 {
                        buf.push_str(", ");
                    }
                    self.push_luhn_miss(buf);
                }
                buf.push_str(" (please ignore)");
            }
            2 => {
                buf.push_str("pasted from the chat widget: ");
                let target = buf.len() + self.range(200, 2000) as usize;
                while buf.len() < target {
                    let piece = self.pick(&[
                        "@",
                        "@@",
                        "user@",
                        "@host",
                        "a@b",
                        "@@@@",
                        " @ ",
                        "x@y@z",
                        "mail@@",
                        "@example",
                        "support@ ",
                        "@ @",
                        "info@company",
                    ]);
                    buf.push_str(piece);
                }
            }
            3 => {
                buf.push_str("license keys: ");
                self.push_dash_groups(buf);
            }
            4 => {
                buf.push_str("reading it out: ");
                let n = self.range(200, 2000);
                for i in 0..n {
                    if i > 0 {
                        buf.push(' ');
                    }
                    buf.push(char::from(b'0' + self.rng.digit()));
                }
            }
            5 => {
                buf.push_str("serials ");
                let groups = self.range(50, 500);
                for i in 0..groups {
                    if i > 0 {
                        buf.push(' ');
                    }
                    self.push_digits(buf, 4);
                }
            }
            6 => {
                let word = self.pick(&[
                    "card ",
                    "SSN ",
                    "balance ",
                    "IBAN ",
                    "CVV ",
                    "account number ",
                    "expires ",
                    "password ",
                ]);
                let n = self.range(50, 300);
                for _ in 0..n {
                    buf.push_str(word);
                }
                buf.push_str("(sorry, my keyboard got stuck)");
            }
            7 => {
                buf.push_str("balance: $");
                let groups = self.range(100, 600);
                buf.push(char::from(b'1' + self.rng.below(9) as u8));
                for _ in 0..groups {
                    buf.push(',');
                    self.push_digits(buf, 3);
                }
                buf.push_str(".00");
            }
            _ => {
                buf.push_str("raw: ");
                let n = self.range(200, 2000);
                for i in 0..n {
                    if i > 0 {
                        buf.push(self.pick(&[' ', '-', '.', ',', '/', ' ']));
                    }
                    buf.push(char::from(b'0' + self.rng.digit()));
                }
            }
        }
    }

    /// `1111-2222-3333-4444-5555-6666`-style groups, 6..=300 of them.
    fn push_dash_groups(&mut self, buf: &mut String) {
        if self.rng.chance(1, 4) {
            buf.push_str("1111-2222-3333-4444-5555-6666");
            return;
        }
        let groups = self.range(6, 300);
        for i in 0..groups {
            if i > 0 {
                buf.push('-');
            }
            let d = char::from(b'0' + self.rng.digit());
            for _ in 0..4 {
                buf.push(d);
            }
        }
    }

    /// A 16-19 digit number that is one digit away from a Luhn-valid one
    /// (so it fails Luhn). 16-digit ones are recorded as decoys.
    fn push_luhn_miss(&mut self, buf: &mut String) {
        let n = self.range(16, 19) as usize;
        let mut digits = [0u8; 19];
        digits[0] = self.pick(&[2u8, 3, 4, 5, 6]);
        for d in digits.iter_mut().take(n - 1).skip(1) {
            *d = self.rng.digit();
        }
        digits[n - 1] = luhn_check_digit(&digits[..n - 1]);
        let at = 1 + self.rng.below(n as u64 - 1) as usize;
        digits[at] = (digits[at] + 1 + self.rng.below(9) as u8) % 10;
        let start = buf.len();
        let sep = if n == 16 {
            self.pick(&[None, Some(' '), Some('-')])
        } else {
            None
        };
        for (i, &d) in digits[..n].iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                if let Some(s) = sep {
                    buf.push(s);
                }
            }
            buf.push(char::from(b'0' + d));
        }
        if n == 16 {
            self.decoys.push(buf[start..].to_owned());
        }
    }
}

// ---------------------------------------------------------------------------
// Formatting helpers

fn push_u64(buf: &mut String, n: u64) {
    push_padded(buf, n, 1);
}

/// Decimal `n`, left-padded with zeros to at least `width` digits.
fn push_padded(buf: &mut String, mut n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(tmp.len().saturating_sub(width));
    for &b in &tmp[start..] {
        buf.push(char::from(b));
    }
}

/// Decimal `n` with `sep` between groups of three digits.
fn push_thousands(buf: &mut String, n: u64, sep: &str) {
    let mut tmp = String::with_capacity(20);
    push_u64(&mut tmp, n);
    // Digits left before the next separator.
    let mut left = (tmp.len() + 2) % 3 + 1;
    for c in tmp.chars() {
        if left == 0 {
            buf.push_str(sep);
            left = 3;
        }
        buf.push(c);
        left -= 1;
    }
}

/// `s` with `sep` inserted every `every` characters.
fn push_grouped_chars(buf: &mut String, s: &str, every: usize, sep: char) {
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % every == 0 {
            buf.push(sep);
        }
        buf.push(c);
    }
}

/// Card number in style 0 (plain), 1 (spaces) or 2 (dashes); 15-digit Amex
/// is grouped 4-6-5, everything else in fours.
fn push_card(buf: &mut String, card: &str, style: u64) {
    let sep = match style {
        0 => {
            buf.push_str(card);
            return;
        }
        1 => ' ',
        _ => '-',
    };
    if card.len() == 15 {
        for (i, c) in card.chars().enumerate() {
            if i == 4 || i == 10 {
                buf.push(sep);
            }
            buf.push(c);
        }
    } else {
        push_grouped_chars(buf, card, 4, sep);
    }
}

/// ABA 3-7-1 weighted digit sum (a routing number needs it to be 0 mod 10).
fn aba_sum(d: &[u8; 9]) -> u32 {
    let w = |i: usize| u32::from(d[i]);
    3 * (w(0) + w(3) + w(6)) + 7 * (w(1) + w(4) + w(7)) + w(2) + w(5) + w(8)
}

/// Luhn check digit for `payload` (digit values, most significant first).
fn luhn_check_digit(payload: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &d) in payload.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    ((10 - sum % 10) % 10) as u8
}

/// Append `s` as the inside of a JSON string literal.
fn push_json_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                out.push_str("\\u00");
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let v = u32::from(c) as usize;
                out.push(char::from(HEX[v >> 4]));
                out.push(char::from(HEX[v & 0xf]));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Density; 4] = [
        Density::Dense,
        Density::Typical,
        Density::Clean,
        Density::Adversarial,
    ];

    fn luhn_ok(s: &str) -> bool {
        let digits: Vec<u8> = s
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        match digits.split_last() {
            Some((&check, payload)) => luhn_check_digit(payload) == check,
            None => false,
        }
    }

    // ---- minimal JSON validator (RFC 8259 grammar, no value building)

    struct Json<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl Json<'_> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }
        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> bool {
            if self.peek() == Some(c) {
                self.i += 1;
                true
            } else {
                false
            }
        }
        fn lit(&mut self, s: &[u8]) -> bool {
            if self.b[self.i..].starts_with(s) {
                self.i += s.len();
                true
            } else {
                false
            }
        }
        fn value(&mut self, depth: u32) -> bool {
            if depth > 64 {
                return false;
            }
            self.ws();
            let ok = match self.peek() {
                Some(b'{') => self.object(depth),
                Some(b'[') => self.array(depth),
                Some(b'"') => self.string(),
                Some(b't') => self.lit(b"true"),
                Some(b'f') => self.lit(b"false"),
                Some(b'n') => self.lit(b"null"),
                Some(b'-' | b'0'..=b'9') => self.number(),
                _ => false,
            };
            self.ws();
            ok
        }
        fn object(&mut self, depth: u32) -> bool {
            self.i += 1;
            self.ws();
            if self.eat(b'}') {
                return true;
            }
            loop {
                self.ws();
                if !self.string() {
                    return false;
                }
                self.ws();
                if !self.eat(b':') || !self.value(depth + 1) {
                    return false;
                }
                if self.eat(b'}') {
                    return true;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
        fn array(&mut self, depth: u32) -> bool {
            self.i += 1;
            self.ws();
            if self.eat(b']') {
                return true;
            }
            loop {
                if !self.value(depth + 1) {
                    return false;
                }
                if self.eat(b']') {
                    return true;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
        fn string(&mut self) -> bool {
            if !self.eat(b'"') {
                return false;
            }
            while let Some(c) = self.peek() {
                self.i += 1;
                match c {
                    b'"' => return true,
                    b'\\' => match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.i += 1;
                        }
                        Some(b'u') => {
                            self.i += 1;
                            for _ in 0..4 {
                                match self.peek() {
                                    Some(h) if h.is_ascii_hexdigit() => self.i += 1,
                                    _ => return false,
                                }
                            }
                        }
                        _ => return false,
                    },
                    0..=0x1f => return false,
                    _ => {}
                }
            }
            false
        }
        fn digits(&mut self) -> usize {
            let start = self.i;
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
            self.i - start
        }
        fn number(&mut self) -> bool {
            self.eat(b'-');
            if self.eat(b'0') {
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return false;
                }
            } else if self.digits() == 0 {
                return false;
            }
            if self.eat(b'.') && self.digits() == 0 {
                return false;
            }
            if self.eat(b'e') || self.eat(b'E') {
                if !self.eat(b'+') {
                    self.eat(b'-');
                }
                if self.digits() == 0 {
                    return false;
                }
            }
            true
        }
    }

    fn valid_json(bytes: &[u8]) -> bool {
        if std::str::from_utf8(bytes).is_err() {
            return false;
        }
        let mut p = Json { b: bytes, i: 0 };
        p.value(0) && p.i == bytes.len()
    }

    #[test]
    fn json_validator_sanity() {
        assert!(valid_json(
            br#"[{"a": [1, -2.5e3, "x\"\u00e9"], "b": null}]"#
        ));
        assert!(!valid_json(br#"[{"a": 1,}]"#));
        assert!(!valid_json(br#"["\q"]"#));
        assert!(!valid_json(b"[\"a\nb\"]"));
        assert!(!valid_json(br#"[01]"#));
        assert!(!valid_json(br#"[{"a": 1}"#));
    }

    #[test]
    fn deterministic() {
        for d in ALL {
            assert_eq!(transcript(7, 50_000, d), transcript(7, 50_000, d));
            assert_eq!(json_tickets(7, 50_000, d), json_tickets(7, 50_000, d));
        }
        assert_ne!(
            transcript(1, 20_000, Density::Dense).bytes,
            transcript(2, 20_000, Density::Dense).bytes
        );
    }

    #[test]
    fn approximate_size() {
        for d in ALL {
            for len in [0usize, 1, 1000, 100_000, 300_000] {
                let t = transcript(3, len, d);
                assert!(t.bytes.len() >= len, "{d:?} {len}");
                // stops at the first line end after len
                assert!(t.bytes.len() < len + 2100, "{d:?} {len} {}", t.bytes.len());
                if len > 0 {
                    assert_eq!(t.bytes.last(), Some(&b'\n'));
                    let before_last = &t.bytes[..t.bytes.len() - 1];
                    let prev_nl = before_last.iter().rposition(|&b| b == b'\n');
                    assert!(prev_nl.map_or(0, |p| p + 1) < len);
                }
                let j = json_tickets(3, len, d);
                assert!(j.bytes.len() >= len, "{d:?} {len}");
                assert!(
                    j.bytes.len() < len + 40_000,
                    "{d:?} {len} {}",
                    j.bytes.len()
                );
            }
        }
    }

    #[test]
    fn density_matches_target() {
        const MIB: usize = 1 << 20;
        for (d, per) in [(Density::Dense, 500.0), (Density::Typical, 5000.0)] {
            let expected = MIB as f64 / per;
            for c in [transcript(11, MIB, d), json_tickets(11, MIB, d)] {
                let n = c.secrets.len() as f64;
                assert!(
                    (n - expected).abs() <= expected * 0.3,
                    "{d:?}: {n} secrets, expected ~{expected}"
                );
            }
        }
    }

    #[test]
    fn clean_and_adversarial_have_no_secrets() {
        for d in [Density::Clean, Density::Adversarial] {
            assert!(transcript(5, 200_000, d).secrets.is_empty());
            assert!(json_tickets(5, 200_000, d).secrets.is_empty());
        }
        let t = transcript(5, 200_000, Density::Clean);
        assert!(!t.decoys.is_empty());
    }

    #[test]
    fn json_is_valid() {
        for d in ALL {
            for seed in 0..4 {
                for len in [0usize, 10, 5_000, 200_000] {
                    let c = json_tickets(seed, len, d);
                    assert!(valid_json(&c.bytes), "{d:?} seed {seed} len {len}");
                }
            }
        }
        // the escaping path is exercised
        let c = json_tickets(1, 300_000, Density::Typical);
        let text = String::from_utf8_lossy(&c.bytes);
        assert!(text.contains("\\\"payment declined\\\""));
        assert!(text.contains("C:\\\\Users"));
        assert!(text.contains("\\n"));
        assert!(text.contains("\\t"));
        assert!(text.contains("\"card_number\": "));
        assert!(text.contains("\"balance\": "));
    }

    #[test]
    fn recorded_values_appear_in_text() {
        for d in ALL {
            for c in [transcript(9, 64 << 10, d), json_tickets(9, 64 << 10, d)] {
                let text = String::from_utf8_lossy(&c.bytes);
                for v in c.secrets.iter().chain(&c.decoys) {
                    assert!(!v.is_empty());
                    assert!(text.contains(v.as_str()), "{d:?}: {v:?} not in text");
                }
            }
        }
    }

    #[test]
    fn all_secret_kinds_show_up() {
        let c = transcript(21, 1 << 20, Density::Dense);
        let s = |p: &str| c.secrets.iter().any(|v| v == p);
        assert!(s("4111 1111 1111 1111") || s("4111-1111-1111-1111") || s("4111111111111111"));
        assert!(s("3782 822463 10005") || s("3782-822463-10005") || s("378282246310005"));
        assert!(s("GB82 WEST 1234 5698 7654 32"));
        assert!(s("NL91ABNA0417164300"));
        assert!(s("219-45-6789"));
        assert!(s("Hunter2!x"));
        assert!(s("021000021"));
        let text = String::from_utf8_lossy(&c.bytes);
        for needle in [
            "your balance is $",
            "available balance: €",
            "you owe £",
            "outstanding balance of USD ",
            "Kontostand: ",
            "solde disponible : ",
            "saldo pendiente ",
            "SSN ",
            "social security number is ",
            "CVV ",
            "security code is ",
            "expires ",
            "DOB: ",
            "date of birth ",
            "my password is ",
            "routing number ",
            "@example.com",
            "@example.org",
            "+1 ",
            "(415) 555-01",
            "+44 20 7946 0",
            "+49 30 9018",
        ] {
            assert!(text.contains(needle), "missing {needle:?}");
        }
        for v in &c.secrets {
            if v.starts_with(['$', '€', '£']) {
                assert!(v.contains(['.', ',']), "{v}");
            }
        }
    }

    #[test]
    fn fixed_lists_are_valid() {
        for card in CARDS {
            assert!(luhn_ok(card), "{card}");
        }
        for iban in IBANS {
            // move the first four chars to the end, letters to numbers, mod 97
            let rearranged = iban[4..].chars().chain(iban[..4].chars());
            let mut rem = 0u32;
            for c in rearranged {
                let v = match c.to_digit(36) {
                    Some(v) => v,
                    None => panic!("bad char in {iban}"),
                };
                rem = if v < 10 {
                    (rem * 10 + v) % 97
                } else {
                    (rem * 100 + v) % 97
                };
            }
            assert_eq!(rem, 1, "{iban}");
        }
        for r in ROUTING {
            let mut d = [0u8; 9];
            assert_eq!(r.len(), 9);
            for (x, b) in d.iter_mut().zip(r.bytes()) {
                *x = b - b'0';
            }
            assert_eq!(aba_sum(&d) % 10, 0, "{r}");
        }
        for ssn in SSNS {
            let parts: Vec<&str> = ssn.split('-').collect();
            assert_eq!(parts.len(), 3);
            assert!(parts[0] != "000" && parts[0] != "666" && !parts[0].starts_with('9'));
            assert!(parts[1] != "00" && parts[2] != "0000");
        }
    }

    #[test]
    fn order_numbers_fail_aba() {
        let c = transcript(4, 200_000, Density::Typical);
        let mut n = 0;
        for v in &c.decoys {
            if v.len() == 9 && v.starts_with("10") && v.bytes().all(|b| b.is_ascii_digit()) {
                let mut d = [0u8; 9];
                for (x, b) in d.iter_mut().zip(v.bytes()) {
                    *x = b - b'0';
                }
                assert_ne!(aba_sum(&d) % 10, 0, "{v}");
                n += 1;
            }
        }
        assert!(n > 100, "{n}");
    }

    #[test]
    fn card_shapes() {
        let mut s = String::new();
        push_card(&mut s, "378282246310005", 1);
        assert_eq!(s, "3782 822463 10005");
        s.clear();
        push_card(&mut s, "4111111111111111", 2);
        assert_eq!(s, "4111-1111-1111-1111");
        s.clear();
        push_grouped_chars(&mut s, "GB82WEST12345698765432", 4, ' ');
        assert_eq!(s, "GB82 WEST 1234 5698 7654 32");
        s.clear();
        push_thousands(&mut s, 1_234_567, ".");
        assert_eq!(s, "1.234.567");
        s.clear();
        push_padded(&mut s, 7, 3);
        push_padded(&mut s, 12_345, 2);
        assert_eq!(s, "00712345");
    }

    #[test]
    fn templates_are_well_formed_and_decoy_lines_have_no_keywords() {
        const KEYWORDS: &[&str] = &[
            "balance",
            "owe",
            "outstanding",
            "kontostand",
            "solde",
            "saldo",
            "card",
            "account",
            "routing",
            "iban",
            "ssn",
            "social",
            "security",
            "cvv",
            "expir",
            "dob",
            "birth",
            "password",
            "phone",
            "email",
            "e-mail",
            "call",
            "due",
            "amount",
            "total",
        ];
        let ordinary = GREETINGS
            .iter()
            .chain(AGENT_DECOY)
            .chain(AGENT_NEUTRAL)
            .chain(CUSTOMER_DECOY)
            .chain(CUSTOMER_NEUTRAL)
            .chain(AGENT_ACK)
            .chain(CUSTOMER_ACK);
        let mut g = Gen::new(0, Density::Typical);
        for tpl in ordinary {
            let lower = tpl.to_lowercase();
            for k in KEYWORDS {
                assert!(!lower.contains(k), "{tpl:?} contains {k:?}");
            }
            let mut buf = String::new();
            g.render(tpl, &mut buf);
            assert!(!buf.contains('{'), "{tpl:?}");
        }
        assert!(g.secrets.is_empty());
        for (_, tpl) in SENSITIVE {
            let before = (g.secrets.len(), g.decoys.len());
            let mut buf = String::new();
            g.render(tpl, &mut buf);
            assert!(!buf.contains('{'), "{tpl:?}");
            assert!(g.secrets.len() > before.0, "{tpl:?} plants nothing");
            assert_eq!(g.decoys.len(), before.1, "{tpl:?} has a decoy");
        }
        for tpl in AGENT_NEUTRAL
            .iter()
            .chain(CUSTOMER_NEUTRAL)
            .chain(AGENT_ACK)
            .chain(CUSTOMER_ACK)
        {
            assert!(!tpl.bytes().any(|b| b.is_ascii_digit()), "{tpl:?}");
        }
    }

    #[test]
    fn decoys_do_not_collide_with_secrets() {
        for c in [
            transcript(13, 256 << 10, Density::Dense),
            json_tickets(13, 256 << 10, Density::Dense),
        ] {
            let secrets: std::collections::HashSet<&str> =
                c.secrets.iter().map(String::as_str).collect();
            let long: Vec<&str> = secrets.iter().copied().filter(|s| s.len() >= 6).collect();
            for d in &c.decoys {
                assert!(!secrets.contains(d.as_str()), "{d}");
                for s in &long {
                    assert!(!d.contains(s), "decoy {d} contains secret {s}");
                }
            }
        }
    }

    #[test]
    fn adversarial_shapes() {
        let c = transcript(17, 1 << 20, Density::Adversarial);
        let text = String::from_utf8_lossy(&c.bytes);
        assert!(text.contains("1111-2222-3333-4444-5555-6666"));
        assert!(text.contains("@@@@"));
        let longest_digit_run = c
            .bytes
            .split(|b| !b.is_ascii_digit())
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(longest_digit_run >= 1000, "{longest_digit_run}");
        let mut luhn_misses = 0;
        for d in &c.decoys {
            let digits = d.bytes().filter(u8::is_ascii_digit).count();
            let shape = d
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-');
            if digits == 16 && shape {
                assert!(!luhn_ok(d), "{d} passes Luhn");
                luhn_misses += 1;
            }
        }
        assert!(luhn_misses > 10, "{luhn_misses}");
        // `@` floods contain no dot, so no valid email can form.
        for line in text.lines().filter(|l| l.contains("chat widget")) {
            let payload = line.split("chat widget: ").nth(1).unwrap_or("");
            assert!(!payload.contains('.'));
        }
    }
}
