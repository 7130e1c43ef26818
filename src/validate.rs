//! Checksum and structure validators for candidate sensitive values.
//!
//! This module owns the "is this match really a card number / IBAN / routing
//! number / SSN?" decision that follows a pattern match. The detectors find
//! candidate byte ranges cheaply; these functions cut false positives
//! (order numbers, phone numbers, timestamps) by applying each identifier's
//! own check digits and issuing rules.
//!
//! Every function here is pure and allocation-free: inputs are the raw
//! candidate bytes exactly as found in the text (they may still contain
//! separators such as spaces or dashes), and any normalisation happens in
//! fixed-size stack buffers. Nothing panics on any input.

/// Card brands recognised by issuer prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardBrand {
    /// Visa: prefix 4.
    Visa,
    /// Mastercard: prefixes 51-55 and 2221-2720.
    Mastercard,
    /// American Express: prefixes 34 and 37.
    Amex,
    /// Discover: prefixes 6011, 644-649, 65 and 622126-622925.
    Discover,
    /// JCB: prefixes 3528-3589.
    Jcb,
    /// Diners Club: prefixes 300-305, 36 and 38-39.
    Diners,
    /// China UnionPay: prefix 62 (outside the Discover co-branded range).
    UnionPay,
    /// Maestro: prefixes 5018, 5020, 5038, 5893, 6304, 6759 and 6761-6763.
    Maestro,
    /// Mir (Russia): prefixes 2200-2204.
    Mir,
    /// RuPay (India): prefixes 60, 81, 82 and 508 (its co-branded 65, 353
    /// and 356, and 6011, are reported as Discover or JCB).
    RuPay,
    /// Verve (Nigeria): prefixes 506099-506198 and 507865-507964 (its
    /// 650002-650027 range is reported as Discover).
    Verve,
    /// Troy (Turkey): prefix 9792 (its co-branded 65 is reported as
    /// Discover).
    Troy,
    /// Elo (Brazil): prefixes 504175, 506699-506778, 509000-509999, 636297
    /// and 636368 (its ranges inside Visa's 4, Discover's 65 and UnionPay's
    /// 62 are reported as those).
    Elo,
    /// Hiper (Brazil): prefixes 637095, 63737423, 63743358, 637568, 637599,
    /// 637609 and 637612.
    Hiper,
}

impl CardBrand {
    /// Stable lowercase identifier for the brand, suitable for labels and
    /// metrics: `"visa"`, `"mastercard"`, `"amex"`, `"discover"`, `"jcb"`,
    /// `"diners"`, `"unionpay"`, `"maestro"`, `"mir"`, `"rupay"`, `"verve"`,
    /// `"troy"`, `"elo"` or `"hiper"`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::Diners => "diners",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Maestro => "maestro",
            CardBrand::Mir => "mir",
            CardBrand::RuPay => "rupay",
            CardBrand::Verve => "verve",
            CardBrand::Troy => "troy",
            CardBrand::Elo => "elo",
            CardBrand::Hiper => "hiper",
        }
    }
}

/// Length of the group separator that starts at `candidate[i]`, or 0 if
/// none does.
///
/// Separators are ` `, `-`, `.`, tab and `+` (a space in form encoding);
/// a line break, with the SSE `data:` that may follow it
/// ([`line_break_len`]);
/// the percent-encoded space and dash `%20`, `%2D`, `%2d`; the UTF-8
/// spaces and dashes in [`unicode_separator_len`]; and the HTML character
/// references of a space, no-break space or dash in
/// [`html_separator_len`]; an HTML line break ([`html_break_len`]). An
/// escape, reference or tag counts as one separator,
/// so the `2` and `0` of `%20` or the `160` of `&#160;` are never read as
/// digits of the number.
#[must_use]
pub fn separator_len(candidate: &[u8], i: usize) -> usize {
    match candidate.get(i..) {
        Some([b' ' | b'-' | b'.' | b'\t' | b'+', ..]) => 1,
        // Percent-encoded space and dash, as in URLs and form bodies.
        Some([b'%', b'2', b'0' | b'D' | b'd', ..]) => 3,
        Some(rest @ [0xC2 | 0xE2 | 0xE3 | 0xEF, ..]) => unicode_separator_len(rest),
        Some(rest @ [b'&', ..]) => html_separator_len(rest),
        Some(rest @ [b'\r' | b'\n', ..]) => line_break_len(rest),
        Some(rest @ [b'<', ..]) => html_break_len(rest),
        _ => 0,
    }
}

/// Length of the HTML line break that `s` starts with, or 0: `<br>`,
/// `<br/>` or `<br />` in any ASCII case, with the source line break
/// (`\r\n`, `\n` or `\r`) that may follow it. Chat transcripts rendered as
/// HTML write a line break typed by the customer as `<br>`, so a card
/// typed over two lines reads `4111 1111<br>1111 1111` (HTML Living
/// Standard, 13.1.2 "Elements": `br` is a void element, and a `/` before
/// `>` is allowed).
#[must_use]
pub fn html_break_len(s: &[u8]) -> usize {
    let n = match s {
        [b'<', b'b' | b'B', b'r' | b'R', b'>', ..] => 4,
        [b'<', b'b' | b'B', b'r' | b'R', b'/', b'>', ..] => 5,
        [b'<', b'b' | b'B', b'r' | b'R', b' ', b'>', ..] => 5,
        [b'<', b'b' | b'B', b'r' | b'R', b' ', b'/', b'>', ..] => 6,
        _ => return 0,
    };
    n + match &s[n..] {
        [b'\r', b'\n', ..] => 2,
        [b'\r' | b'\n', ..] => 1,
        _ => 0,
    }
}

/// Length of the line break that `s` starts with (`\r\n`, `\n` or `\r`),
/// together with an SSE `data:` field name and its optional space right
/// after it; 0 if `s` starts with none. A number typed across two lines
/// reads as one number on screen, and an SSE client joins the `data:`
/// lines of an event with `\n` (HTML Living Standard, 9.2.6 "Interpreting
/// an event stream"), so `4111 1111` `data: 1111 1111` is one card.
#[must_use]
pub fn line_break_len(s: &[u8]) -> usize {
    let n = match s {
        [b'\r', b'\n', ..] => 2,
        [b'\r' | b'\n', ..] => 1,
        _ => return 0,
    };
    match &s[n..] {
        [b'd', b'a', b't', b'a', b':', b' ', ..] => n + 6,
        [b'd', b'a', b't', b'a', b':', ..] => n + 5,
        _ => n,
    }
}

/// Length of the UTF-8 space, dash or invisible character that `s` starts
/// with, or 0: U+00A0 NO-BREAK SPACE, U+00AD SOFT HYPHEN, U+2007 FIGURE
/// SPACE, U+2009 THIN SPACE, U+200B-U+200F (zero-width space, non-joiner
/// and joiner, left-to-right and right-to-left marks), U+2010 HYPHEN, U+2011
/// NON-BREAKING HYPHEN, U+2012 FIGURE DASH, U+2013 EN DASH, U+FEFF ZERO
/// WIDTH NO-BREAK SPACE, U+202F NARROW NO-BREAK SPACE and U+2060 WORD JOINER (Unicode 15,
/// General Punctuation block, U+2000-U+206F), U+3000 IDEOGRAPHIC SPACE and
/// U+FF0D FULLWIDTH HYPHEN-MINUS. These are what word processors, locales
/// (U+202F groups digits in French), East Asian input methods and
/// copy-paste put between digit groups.
#[must_use]
pub fn unicode_separator_len(s: &[u8]) -> usize {
    match s {
        [0xC2, 0xA0 | 0xAD, ..] => 2,
        [0xE2, 0x80, 0x87 | 0x89 | 0x8B..=0x93 | 0xAF, ..]
        | [0xE2, 0x81, 0xA0, ..]
        | [0xE3, 0x80, 0x80, ..]
        | [0xEF, 0xBC, 0x8D, ..]
        | [0xEF, 0xBB, 0xBF, ..] => 3,
        _ => 0,
    }
}

/// Length of the HTML character reference of a space, no-break space,
/// hyphen-minus or soft hyphen that `s` starts with, or 0: `&nbsp;`,
/// `&shy;`, `&#32;`, `&#160;`, `&#45;`, `&#173;`, `&#x20;`, `&#xA0;`,
/// `&#x2D;`, `&#xAD;`, in any ASCII case (a browser that
/// does not decode `&NBSP;` still shows the digits around it). Chat
/// transcripts rendered as HTML put these between digit groups (HTML Living
/// Standard, 13.5 "Named character references"; the numeric ones are the
/// code points U+0020, U+00A0, U+002D).
#[must_use]
pub fn html_separator_len(s: &[u8]) -> usize {
    const REFS: [&[u8]; 10] = [
        b"&nbsp;", b"&shy;", b"&#32;", b"&#45;", b"&#160;", b"&#173;", b"&#x20;", b"&#xa0;",
        b"&#x2d;", b"&#xad;",
    ];
    REFS.iter()
        .find(|r| s.get(..r.len()).is_some_and(|p| p.eq_ignore_ascii_case(r)))
        .map_or(0, |r| r.len())
}

/// The digit `c[i..]` starts with, as an ASCII digit, and its length: an
/// ASCII digit (1 byte) or a FULLWIDTH DIGIT U+FF10-U+FF19 (`EF BC 90`-`99`,
/// 3 bytes), which East Asian input methods type in full-width mode
/// (Unicode 15, Halfwidth and Fullwidth Forms block).
#[inline]
fn digit_at(c: &[u8], i: usize) -> Option<(u8, usize)> {
    match c.get(i..)? {
        [d @ b'0'..=b'9', ..] => Some((*d, 1)),
        [0xEF, 0xBC, f @ 0x90..=0x99, ..] => Some((b'0' + (f - 0x90), 3)),
        _ => None,
    }
}

/// How many digits `v` holds: ASCII digits and full-width digits
/// (U+FF10-U+FF19), which the engine reads as digits too.
#[must_use]
pub fn digit_count(v: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < v.len() {
        match digit_at(v, i) {
            Some((_, len)) => {
                n += 1;
                i += len;
            }
            None => i += 1,
        }
    }
    n
}

/// How many digits a digit group (see [`digit_groups`]) holds: its bytes,
/// with each full-width digit counted once.
#[must_use]
pub fn group_digits(group: &[u8]) -> usize {
    group.len() - 2 * group.iter().filter(|&&b| b == 0xEF).count()
}

/// Collect the digits of `candidate` into `out`, as ASCII, and return them
/// (full-width digits count as their ASCII digits).
///
/// Separators (see [`separator_len`]) are skipped wherever they appear.
/// Returns `None` if any other byte appears or if there are more digits
/// than `out` can hold (40). An input with no digits yields `Some` of an
/// empty slice.
pub fn digits<'a>(candidate: &[u8], out: &'a mut [u8; 40]) -> Option<&'a [u8]> {
    let mut n = 0usize;
    let mut i = 0;
    while i < candidate.len() {
        if let Some((d, len)) = digit_at(candidate, i) {
            // `get_mut` turns "too many digits" into None instead of a panic.
            *out.get_mut(n)? = d;
            n += 1;
            i += len;
            continue;
        }
        match separator_len(candidate, i) {
            0 => return None,
            len => i += len,
        }
    }
    out.get(..n)
}

/// The digit groups of `candidate`: `(start, end)` byte ranges of its runs
/// of ASCII digits, split at separators (see [`separator_len`]) and at any
/// other non-digit byte. A percent-encoded separator is skipped whole, so
/// `4111%201111` has the groups `4111` and `1111`, not `4111` and `201111`.
#[must_use]
pub fn digit_groups(candidate: &[u8]) -> DigitGroups<'_> {
    DigitGroups { candidate, i: 0 }
}

/// Iterator returned by [`digit_groups`].
#[derive(Debug, Clone)]
pub struct DigitGroups<'a> {
    candidate: &'a [u8],
    i: usize,
}

impl Iterator for DigitGroups<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let c = self.candidate;
        while self.i < c.len() {
            if digit_at(c, self.i).is_some() {
                let start = self.i;
                while let Some((_, len)) = digit_at(c, self.i) {
                    self.i += len;
                }
                return Some((start, self.i));
            }
            self.i += separator_len(c, self.i).max(1);
        }
        None
    }
}

/// Count the ASCII digits (`b'0'..=b'9'`) in `candidate`, ignoring every
/// other byte.
#[must_use]
pub fn ascii_digit_count(candidate: &[u8]) -> usize {
    candidate.iter().filter(|b| b.is_ascii_digit()).count()
}

/// Luhn (mod 10) check over ASCII digits, as used by payment cards
/// (ISO/IEC 7812-1 Annex B).
///
/// Returns `false` for an empty slice or if any byte is not an ASCII digit,
/// so a stray separator can never make a number "valid".
#[must_use]
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    // Walk from the check digit leftwards; every second digit is doubled.
    for (i, &b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        // Reducing as we go keeps the sum bounded for any input length.
        sum = (sum + d) % 10;
    }
    sum == 0
}

/// Value of the first `n` digits of `d` (which must be all ASCII digits),
/// or `None` if `d` is shorter than `n`.
fn lead(d: &[u8], n: usize) -> Option<u32> {
    let head = d.get(..n)?;
    Some(
        head.iter()
            .fold(0u32, |acc, &b| acc * 10 + u32::from(b.wrapping_sub(b'0'))),
    )
}

/// Identify the card issuer from the issuer identification number (leading
/// digits) and the total length.
///
/// `digits` must be ASCII digits only (e.g. the output of [`digits`]);
/// anything else yields `None`. Returns `None` for an unknown prefix or a
/// length the brand does not issue.
///
/// Ranges and lengths follow ISO/IEC 7812-1 (issuer identification number)
/// as published per brand and summarised in Wikipedia, "Payment card number"
/// § "Issuer identification number (IIN)":
///
/// | Brand      | Prefixes                                      | Lengths      |
/// |------------|-----------------------------------------------|--------------|
/// | Visa       | 4                                             | 13, 16, 19   |
/// | Mastercard | 51-55, 2221-2720                              | 16           |
/// | Amex       | 34, 37                                        | 15           |
/// | Discover   | 6011, 644-649, 65, 622126-622925              | 16-19        |
/// | JCB        | 3528-3589                                     | 16-19        |
/// | Diners     | 300-305, 36, 38-39                            | 14-19        |
/// | UnionPay   | 62                                            | 16-19        |
/// | Maestro    | 5018, 5020, 5038, 5893, 6304, 6759, 6761-6763 | 12-19        |
/// | Mir        | 2200-2204                                     | 16-19        |
/// | RuPay      | 60, 65, 81, 82, 508, 353, 356                 | 16           |
/// | Verve      | 506099-506198, 650002-650027, 507865-507964   | 16, 18, 19   |
/// | Troy       | 65, 9792                                      | 16           |
///
/// Mir, RuPay, Verve and Troy rows: the same Wikipedia table, "Payment card
/// number" § "Issuer identification number (IIN)"
/// (<https://en.wikipedia.org/wiki/Payment_card_number#Issuer_identification_number_(IIN)>),
/// read through verbatim copies of its rows, because the stored copies of
/// the page only showed its opening paragraphs:
/// - Mir `2200–2204 | Yes | 16-19` and Troy `65, 9792 | Yes | 16`: rows
///   quoted from that section in d-edge/Cardizer issues #27 (2021-09) and
///   #53 (2021-10).
/// - RuPay: the 2021 row, quoted in d-edge/Cardizer #23, reads `60, 652, 81,
///   82, 508 (3538, 3561 RuPay-JCB co-branded) | Yes | 16`; later revisions
///   (as copied by the `creditcard` crate's `Issuer` docs, which cite this
///   page) read `60, 65, 81, 82, 508, 353, 356 | 16`. Either reading gives
///   the same result here (see below).
/// - Verve: the ranges are those in Wikipedia revision 1240748162 of
///   17 August 2024 (its diff is quoted in d-edge/Cardizer #227). The
///   lengths 16, 18, 19 are from d-edge/Cardidy #99 (2022-10: Wikipedia
///   added 18 to the earlier `16, 19`) and the `creditcard` crate's copy.
///
/// Elo, Hiper and Hipercard (Brazil) are not in that table. Their prefixes
/// and lengths are those of Braintree's `credit-card-type` package
/// (`src/lib/card-types.ts`, commit d0b8d2a, MIT), which card forms use to
/// tell brands apart:
///
/// | Brand      | Prefixes                                                | Lengths |
/// |------------|---------------------------------------------------------|---------|
/// | Elo        | 401178, 401179, 431274, 438935, 451416, 457393, 457631, 457632, 504175, 506699-506778, 509000-509999, 627780, 636297, 636368, 650031-650033, 650035-650051, 650405-650439, 650485-650538, 650541-650598, 650700-650718, 650720-650727, 650901-650978, 651652-651679, 655000-655019, 655021-655058 | 16 |
/// | Hiper      | 637095, 63737423, 63743358, 637568, 637599, 637609, 637612 | 16 |
/// | Hipercard  | 606282                                                  | 16      |
///
/// Elo's 4 ranges are inside Visa's, its 65 ranges inside Discover's and
/// 627780 inside UnionPay's 62, all of which accept 16 digits, and
/// Hipercard's 606282 is inside RuPay's 60 (16 digits): those are reported
/// as the older brand. The rest of Elo's ranges and all of Hiper's are
/// checked here.
///
/// Shared prefixes keep the brand that was here first, with that brand's
/// lengths: 622126-622925 is both inside UnionPay's 62 and Discover's
/// co-branded range and is reported as [`CardBrand::Discover`]; RuPay's
/// 65, Troy's 65 and Verve's 650002-650027 (and RuPay's 6011, inside its 60)
/// are reported as Discover; RuPay's 353 and 356 (and 3538, 3561) are
/// inside JCB's 3528-3589 and are reported as JCB. Each of those
/// newer brands issues only lengths that Discover or JCB already accept
/// (16-19), so taking the union of lengths for a shared prefix gives the
/// existing brand's lengths: whether such a number counts as a card is
/// unchanged.
#[must_use]
pub fn card_brand(digits: &[u8]) -> Option<CardBrand> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let len = digits.len();
    let pre = |n: usize, lo: u32, hi: u32| lead(digits, n).is_some_and(|p| (lo..=hi).contains(&p));

    if pre(1, 4, 4) {
        // Visa: 13 is legacy, 19 is the newer extended length.
        return matches!(len, 13 | 16 | 19).then_some(CardBrand::Visa);
    }
    if pre(2, 34, 34) || pre(2, 37, 37) {
        return (len == 15).then_some(CardBrand::Amex);
    }
    if pre(2, 51, 55) || pre(4, 2221, 2720) {
        // 2221-2720 is the 2-series range Mastercard added in 2017.
        return (len == 16).then_some(CardBrand::Mastercard);
    }
    if pre(4, 5018, 5018)
        || pre(4, 5020, 5020)
        || pre(4, 5038, 5038)
        || pre(4, 5893, 5893)
        || pre(4, 6304, 6304)
        || pre(4, 6759, 6759)
        || pre(4, 6761, 6763)
    {
        return (12..=19).contains(&len).then_some(CardBrand::Maestro);
    }
    // Discover is tested before UnionPay so the co-branded 622126-622925
    // range resolves to Discover.
    if pre(4, 6011, 6011) || pre(3, 644, 649) || pre(2, 65, 65) || pre(6, 622_126, 622_925) {
        return (16..=19).contains(&len).then_some(CardBrand::Discover);
    }
    if pre(2, 62, 62) {
        return (16..=19).contains(&len).then_some(CardBrand::UnionPay);
    }
    if pre(4, 3528, 3589) {
        return (16..=19).contains(&len).then_some(CardBrand::Jcb);
    }
    if pre(3, 300, 305) || pre(2, 36, 36) || pre(2, 38, 39) {
        return (14..=19).contains(&len).then_some(CardBrand::Diners);
    }
    // The brands below come after Discover and JCB, so the prefixes they
    // share with those (65, 6011, 353, 356) keep resolving to them.
    if pre(4, 2200, 2204) {
        // Mir sits below Mastercard's 2221-2720; the two do not meet.
        return (16..=19).contains(&len).then_some(CardBrand::Mir);
    }
    if pre(2, 60, 60) || pre(2, 81, 82) || pre(3, 508, 508) {
        return (len == 16).then_some(CardBrand::RuPay);
    }
    if pre(6, 506_099, 506_198) || pre(6, 507_865, 507_964) {
        return matches!(len, 16 | 18 | 19).then_some(CardBrand::Verve);
    }
    if pre(4, 9792, 9792) {
        return (len == 16).then_some(CardBrand::Troy);
    }
    if pre(6, 504_175, 504_175)
        || pre(6, 506_699, 506_778)
        || pre(3, 509, 509)
        || pre(6, 636_297, 636_297)
        || pre(6, 636_368, 636_368)
    {
        return (len == 16).then_some(CardBrand::Elo);
    }
    if pre(6, 637_095, 637_095)
        || pre(8, 63_737_423, 63_737_423)
        || pre(8, 63_743_358, 63_743_358)
        || pre(6, 637_568, 637_568)
        || pre(6, 637_599, 637_599)
        || pre(6, 637_609, 637_609)
        || pre(6, 637_612, 637_612)
    {
        return (len == 16).then_some(CardBrand::Hiper);
    }
    None
}

/// A payment card number: 13-19 digits once separators are removed (see
/// [`digits`]), a known issuer prefix and length ([`card_brand`]), and a
/// valid Luhn check digit ([`luhn`]).
///
/// Numbers made of a single repeated digit are rejected outright: they are
/// filler and test patterns, never issued cards.
#[must_use]
pub fn card(candidate: &[u8]) -> bool {
    let mut buf = [0u8; 40];
    let Some(d) = digits(candidate, &mut buf) else {
        return false;
    };
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    if d.iter().all(|&b| Some(&b) == d.first()) {
        return false;
    }
    card_brand(d).is_some() && luhn(d)
}

/// Longest IBAN permitted by ISO 13616-1 (the registry's longest today is 33).
const IBAN_MAX: usize = 34;

/// Total IBAN length (country code + check digits + BBAN) for a country code,
/// or `None` if the country does not use IBAN.
///
/// Source: SWIFT, "IBAN Registry" (ISO 13616 registration authority,
/// swift.com/standards/data-standards/iban), 2024-2025 releases, "IBAN
/// length" column: 89 country codes. Dependent territories that use
/// their parent's prefix (e.g. Åland → FI, Réunion → FR, Jersey → GB) need
/// no entries of their own.
fn iban_length(country: [u8; 2]) -> Option<usize> {
    let len = match &country {
        b"AD" => 24, // Andorra
        b"AE" => 23, // United Arab Emirates
        b"AL" => 28, // Albania
        b"AT" => 20, // Austria
        b"AZ" => 28, // Azerbaijan
        b"BA" => 20, // Bosnia and Herzegovina
        b"BE" => 16, // Belgium
        b"BG" => 22, // Bulgaria
        b"BH" => 22, // Bahrain
        b"BI" => 27, // Burundi
        b"BR" => 29, // Brazil
        b"BY" => 28, // Belarus
        b"CH" => 21, // Switzerland
        b"CR" => 22, // Costa Rica
        b"CY" => 28, // Cyprus
        b"CZ" => 24, // Czechia
        b"DE" => 22, // Germany
        b"DJ" => 27, // Djibouti
        b"DK" => 18, // Denmark
        b"DO" => 28, // Dominican Republic
        b"EE" => 20, // Estonia
        b"EG" => 29, // Egypt
        b"ES" => 24, // Spain
        b"FI" => 18, // Finland
        b"FK" => 18, // Falkland Islands
        b"FO" => 18, // Faroe Islands
        b"FR" => 27, // France
        b"GB" => 22, // United Kingdom
        b"GE" => 22, // Georgia
        b"GI" => 23, // Gibraltar
        b"GL" => 18, // Greenland
        b"GR" => 27, // Greece
        b"GT" => 28, // Guatemala
        b"HN" => 28, // Honduras
        b"HR" => 21, // Croatia
        b"HU" => 28, // Hungary
        b"IE" => 22, // Ireland
        b"IL" => 23, // Israel
        b"IQ" => 23, // Iraq
        b"IS" => 26, // Iceland
        b"IT" => 27, // Italy
        b"JO" => 30, // Jordan
        b"KW" => 30, // Kuwait
        b"KZ" => 20, // Kazakhstan
        b"LB" => 28, // Lebanon
        b"LC" => 32, // Saint Lucia
        b"LI" => 21, // Liechtenstein
        b"LT" => 20, // Lithuania
        b"LU" => 20, // Luxembourg
        b"LV" => 21, // Latvia
        b"LY" => 25, // Libya
        b"MC" => 27, // Monaco
        b"MD" => 24, // Moldova
        b"ME" => 22, // Montenegro
        b"MK" => 19, // North Macedonia
        b"MN" => 20, // Mongolia
        b"MR" => 27, // Mauritania
        b"MT" => 31, // Malta
        b"MU" => 30, // Mauritius
        b"NI" => 28, // Nicaragua
        b"NL" => 18, // Netherlands
        b"NO" => 15, // Norway
        b"OM" => 23, // Oman
        b"PK" => 24, // Pakistan
        b"PL" => 28, // Poland
        b"PS" => 29, // Palestine
        b"PT" => 25, // Portugal
        b"QA" => 29, // Qatar
        b"RO" => 24, // Romania
        b"RS" => 22, // Serbia
        b"RU" => 33, // Russia
        b"SA" => 24, // Saudi Arabia
        b"SC" => 31, // Seychelles
        b"SD" => 18, // Sudan
        b"SE" => 24, // Sweden
        b"SI" => 19, // Slovenia
        b"SK" => 24, // Slovakia
        b"SM" => 27, // San Marino
        b"SO" => 23, // Somalia
        b"ST" => 25, // Sao Tome and Principe
        b"SV" => 28, // El Salvador
        b"TL" => 23, // Timor-Leste
        b"TN" => 24, // Tunisia
        b"TR" => 26, // Turkey
        b"UA" => 29, // Ukraine
        b"VA" => 22, // Vatican City
        b"VG" => 24, // British Virgin Islands
        b"XK" => 20, // Kosovo
        b"YE" => 30, // Yemen
        _ => return None,
    };
    Some(len)
}

/// Fold one IBAN character into a running mod-97 remainder.
///
/// ISO 7064 MOD 97-10 reads letters as two-digit numbers (A = 10 … Z = 35),
/// so a letter shifts the remainder by 100 and a digit by 10. Because the
/// remainder stays below 97 the intermediate value fits easily in a `u32`,
/// which is what lets us avoid big integers.
fn mod97_step(rem: u32, b: u8) -> u32 {
    if b.is_ascii_digit() {
        (rem * 10 + u32::from(b - b'0')) % 97
    } else {
        (rem * 100 + u32::from(b.wrapping_sub(b'A')) + 10) % 97
    }
}

/// An International Bank Account Number (ISO 13616-1).
///
/// Spaces and `'-'` are stripped and ASCII letters uppercased, then the
/// value must have: a two-letter country code from the SWIFT IBAN Registry
/// with exactly that country's registered length; two check digits in
/// 02-98 (the only values the ISO 7064 MOD 97-10 generator can produce);
/// an alphanumeric BBAN; and `mod 97 == 1` over the rearranged number
/// (BBAN, then country code, then check digits).
///
/// Per-country BBAN layouts (e.g. "numeric only" for DE) are not enforced;
/// the registry length plus the checksum already reject nearly all noise.
#[must_use]
pub fn iban(candidate: &[u8]) -> bool {
    let mut buf = [0u8; IBAN_MAX];
    let mut n = 0usize;
    let mut i = 0;
    while let Some(&b) = candidate.get(i) {
        let sep = iban_separator_len(&candidate[i..]);
        if sep > 0 {
            i += sep;
            continue;
        }
        i += 1;
        let c = match b {
            b'0'..=b'9' | b'A'..=b'Z' => b,
            b'a'..=b'z' => b.to_ascii_uppercase(),
            _ => return false,
        };
        let Some(slot) = buf.get_mut(n) else {
            return false;
        };
        *slot = c;
        n += 1;
    }
    let Some(s) = buf.get(..n) else {
        return false;
    };
    let [c0, c1, k0, k1, bban @ ..] = s else {
        return false;
    };
    if !c0.is_ascii_uppercase() || !c1.is_ascii_uppercase() {
        return false;
    }
    if iban_length([*c0, *c1]) != Some(n) {
        return false;
    }
    if !k0.is_ascii_digit() || !k1.is_ascii_digit() {
        return false;
    }
    let check = (k0 - b'0') * 10 + (k1 - b'0');
    // 00, 01 and 99 satisfy mod 97 == 1 whenever 97, 98 or 02 do, but the
    // generator (98 - remainder) never emits them, so they are not real IBANs.
    if !(2..=98).contains(&check) {
        return false;
    }
    // Rearrange without copying: BBAN first, then the first four characters.
    let rem = bban
        .iter()
        .chain([c0, c1, k0, k1])
        .fold(0u32, |rem, &b| mod97_step(rem, b));
    rem == 1
}

/// Length of the separator between IBAN characters that `s` starts with,
/// or 0: a space or dash, `%20` (URL encoding), the UTF-8 spaces and dashes
/// of [`unicode_separator_len`] and the HTML references of
/// [`html_separator_len`]. An IBAN printed in groups of four is often
/// grouped with no-break spaces (`&nbsp;` in HTML) so it never wraps.
/// Dots, `+` and line breaks are not read: they end the IBAN. (The rule's
/// pattern admits fewer: no dashes, which make pieces of UUIDs look like
/// IBANs.)
#[must_use]
pub fn iban_separator_len(s: &[u8]) -> usize {
    match s {
        [b' ' | b'-', ..] => 1,
        [b'%', b'2', b'0', ..] => 3,
        [0xC2 | 0xE2 | 0xE3 | 0xEF, ..] => unicode_separator_len(s),
        [b'&', ..] => html_separator_len(s),
        _ => 0,
    }
}

/// A US ABA routing transit number.
///
/// After removing separators (see [`digits`]) there must be exactly 9
/// digits satisfying the ABA 3-7-1 checksum,
/// `3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)`, and the first two
/// digits must be a Federal Reserve routing symbol in use: 00 (US
/// Government), 01-12 (Federal Reserve districts), 21-32 (thrifts), 61-72
/// (electronic), or 80 (traveller's cheques). The all-zero number, which
/// trivially passes the checksum, is rejected.
///
/// Sources: American Bankers Association routing number policy; Wikipedia,
/// "ABA routing transit number" §§ "Format" and "Check digit".
#[must_use]
pub fn aba(candidate: &[u8]) -> bool {
    let mut buf = [0u8; 40];
    let Some(d) = digits(candidate, &mut buf) else {
        return false;
    };
    let Ok(d) = <[u8; 9]>::try_from(d) else {
        return false;
    };
    let [d1, d2, d3, d4, d5, d6, d7, d8, d9] = d.map(|b| u32::from(b - b'0'));
    let sum = 3 * (d1 + d4 + d7) + 7 * (d2 + d5 + d8) + (d3 + d6 + d9);
    if sum % 10 != 0 {
        return false;
    }
    if d.iter().all(|&b| b == b'0') {
        return false;
    }
    matches!(d1 * 10 + d2, 0..=12 | 21..=32 | 61..=72 | 80)
}

/// A US Social Security Number.
///
/// Accepted shapes are `AAAGGSSSS`, or `AAA-GG-SSSS` with both separators
/// the same spelling of one of `-`, ` `, `+` (a form-encoded space), `%2D`,
/// `%2d` or `%20` (percent-encoded dash and space). Then, per SSA, "Social
/// Security Number Randomization" (ssa.gov/employer/randomization.html),
/// which lists what is never assigned even after 2011-06-25:
/// - area (`AAA`) is not 000, 666, or 900-999;
/// - group (`GG`) is not 00;
/// - serial (`SSSS`) is not 0000.
///
/// Two numbers that were printed as samples, widely misused and then voided
/// are also rejected: 078-05-1120 (Woolworth wallet insert, 1938; SSA
/// History, "Social Security Cards Issued by Woolworth",
/// ssa.gov/history/ssn/misused.html) and 219-09-9999 (sample card in a 1940
/// SSA pamphlet; Wikipedia, "Social Security number" § "Valid SSNs"). 123-45-6789 is deliberately
/// *not* rejected: it is structurally valid and used as a fixture.
#[must_use]
pub fn ssn(candidate: &[u8]) -> bool {
    let mut groups = digit_groups(candidate);
    let d: [u8; 9] = match (groups.next(), groups.next(), groups.next(), groups.next()) {
        (Some((0, 9)), None, _, _) if candidate.len() == 9 => {
            let mut d = [0; 9];
            d.copy_from_slice(candidate);
            d
        }
        (Some((0, 3)), Some((g, h)), Some((s, e)), None)
            if h - g == 2 && e - s == 4 && e == candidate.len() =>
        {
            // Both separators are one whole SSN separator, spelt alike.
            let (x, y) = (&candidate[3..g], &candidate[h..s]);
            if x != y || separator_len(x, 0) != x.len() || matches!(x, b"." | b"\t") {
                return false;
            }
            let c = candidate;
            [
                c[0],
                c[1],
                c[2],
                c[g],
                c[g + 1],
                c[s],
                c[s + 1],
                c[s + 2],
                c[s + 3],
            ]
        }
        _ => return false,
    };
    let [a1, a2, a3, g1, g2, s1, s2, s3, s4] = d.map(|b| u32::from(b - b'0'));
    let area = a1 * 100 + a2 * 10 + a3;
    let group = g1 * 10 + g2;
    let serial = s1 * 1000 + s2 * 100 + s3 * 10 + s4;
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    !matches!((area, group, serial), (78, 5, 1120) | (219, 9, 9999))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published test card numbers, each paired with its expected brand.
    /// Sources: PayPal Payflow / Braintree "Test credit card numbers"
    /// (4111…, 4012…, 4222…, 5555…, 5105…, 3782…, 3714…, 3787…, 6011…,
    /// 3056 9309…, 3852…, 3530…, 3566…); Stripe "Testing" docs (4242…,
    /// 2223…, 5200…, 3056 9300…, 3622…, 6200…); Worldpay test cards
    /// (Maestro 6759…). Each one was checked to be Luhn-valid.
    const TEST_CARDS: &[(&str, CardBrand)] = &[
        ("4111111111111111", CardBrand::Visa),
        ("4012888888881881", CardBrand::Visa),
        ("4222222222222", CardBrand::Visa),
        ("4242424242424242", CardBrand::Visa),
        ("5555555555554444", CardBrand::Mastercard),
        ("5105105105105100", CardBrand::Mastercard),
        ("5200828282828210", CardBrand::Mastercard),
        ("2223003122003222", CardBrand::Mastercard),
        ("378282246310005", CardBrand::Amex),
        ("371449635398431", CardBrand::Amex),
        ("378734493671000", CardBrand::Amex),
        ("6011111111111117", CardBrand::Discover),
        ("6011000990139424", CardBrand::Discover),
        ("3530111333300000", CardBrand::Jcb),
        ("3566002020360505", CardBrand::Jcb),
        ("30569309025904", CardBrand::Diners),
        ("38520000023237", CardBrand::Diners),
        ("36227206271667", CardBrand::Diners),
        ("3056930009020004", CardBrand::Diners),
        ("6200000000000005", CardBrand::UnionPay),
        ("6759649826438453", CardBrand::Maestro),
    ];

    /// Insert `sep` after every 4th digit, e.g. "4111 1111 1111 1111".
    fn grouped(s: &str, sep: char) -> String {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    #[test]
    fn brand_names() {
        assert_eq!(CardBrand::Visa.name(), "visa");
        assert_eq!(CardBrand::Mastercard.name(), "mastercard");
        assert_eq!(CardBrand::Amex.name(), "amex");
        assert_eq!(CardBrand::Discover.name(), "discover");
        assert_eq!(CardBrand::Jcb.name(), "jcb");
        assert_eq!(CardBrand::Diners.name(), "diners");
        assert_eq!(CardBrand::UnionPay.name(), "unionpay");
        assert_eq!(CardBrand::Maestro.name(), "maestro");
        assert_eq!(CardBrand::Mir.name(), "mir");
        assert_eq!(CardBrand::RuPay.name(), "rupay");
        assert_eq!(CardBrand::Verve.name(), "verve");
        assert_eq!(CardBrand::Troy.name(), "troy");
        assert_eq!(CardBrand::Elo.name(), "elo");
        assert_eq!(CardBrand::Hiper.name(), "hiper");
    }

    #[test]
    fn digits_strips_separators() {
        let mut buf = [0u8; 40];
        assert_eq!(
            digits(b"4111 1111-1111.1111", &mut buf),
            Some(&b"4111111111111111"[..])
        );
        assert_eq!(digits(b"12\t34", &mut buf), Some(&b"1234"[..]));
        assert_eq!(digits(b"", &mut buf), Some(&b""[..]));
        assert_eq!(digits(b" - ", &mut buf), Some(&b""[..]));
        assert_eq!(digits(b"4111/1111", &mut buf), None);
        assert_eq!(digits(b"4111x", &mut buf), None);
        // UTF-8 no-break space is a separator; a lone 0xC2 is not.
        assert_eq!(
            digits("4111\u{a0}1111".as_bytes(), &mut buf),
            Some(&b"41111111"[..])
        );
        assert_eq!(digits(b"4111\xc21111", &mut buf), None);
        let forty = [b'7'; 40];
        assert_eq!(digits(&forty, &mut buf), Some(&forty[..]));
        let forty_one = [b'7'; 41];
        assert_eq!(digits(&forty_one, &mut buf), None);
    }

    /// Session 11 leak review: form and percent encoding between groups.
    #[test]
    fn digits_reads_encoded_separators() {
        let mut buf = [0u8; 40];
        let mut d = |s: &[u8]| digits(s, &mut buf).map(<[u8]>::to_vec);
        assert_eq!(
            d(b"4111+1111+1111+1111"),
            Some(b"4111111111111111".to_vec())
        );
        assert_eq!(
            d(b"4111%201111%201111%201111"),
            Some(b"4111111111111111".to_vec())
        );
        assert_eq!(d(b"219%2D45%2d6789"), Some(b"219456789".to_vec()));
        assert_eq!(
            d("4111\u{a0}1111+1111%201111".as_bytes()),
            Some(b"4111111111111111".to_vec())
        );
        // Unicode spaces and dashes, HTML references of a space or dash.
        assert_eq!(
            d("4111\u{2009}1111\u{200b}1111\u{202f}1111".as_bytes()),
            Some(b"4111111111111111".to_vec())
        );
        assert_eq!(
            d(b"4111&nbsp;1111&#160;1111&#x20;1111"),
            Some(b"4111111111111111".to_vec())
        );
        // The "20" of "%20" is never read as digits, even at the edges.
        assert_eq!(d(b"%20"), Some(Vec::new()));
        assert_eq!(d(b"12%20"), Some(b"12".to_vec()));
        assert_eq!(d(b"%2012"), Some(b"12".to_vec()));
        // Any other escape, a cut escape, or other bytes: not a number.
        for bad in [
            &b"4111%2B1111"[..],
            b"4111%2e1111",
            b"4111%21111",
            b"4111%1111",
            b"4111%",
            b"4111%2",
            b"4111%30111",
            b"4111%%201111",
            b"4111*1111",
            b"4111=1111",
            b"4111&1111",
            b"4111\xa01111",
            "4111\u{2014}1111".as_bytes(),
            "4111\u{2022}1111".as_bytes(),
            b"4111&#52;111",
            b"4111&amp;1111",
        ] {
            assert_eq!(d(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn separator_lengths() {
        let s = "a+b %20%2D%2d%2B\u{a0}\u{a1}-".as_bytes();
        let lens: Vec<usize> = (0..s.len()).map(|i| separator_len(s, i)).collect();
        assert_eq!(
            lens,
            [0, 1, 0, 1, 3, 0, 0, 3, 0, 0, 3, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1]
        );
        assert_eq!(separator_len(b"x", 5), 0);
        for (l, n) in [
            (&b"\n1"[..], 1),
            (b"\r\n", 2),
            (b"\r1", 1),
            (b"\ndata: 1", 7),
            (b"\r\ndata:1", 7),
            (b"\ndata", 1),
            (b"\nevent: 1", 1),
            (b"\n\n", 1),
        ] {
            assert_eq!(separator_len(l, 0), n, "{:?}", String::from_utf8_lossy(l));
        }
        let u = |c: char| separator_len(c.to_string().as_bytes(), 0);
        for c in [
            '\u{a0}', '\u{2007}', '\u{2009}', '\u{200b}', '\u{2011}', '\u{2012}',
        ] {
            assert_eq!(u(c), c.len_utf8(), "{:?}", c);
        }
        for c in ['\u{2013}', '\u{202f}', '\u{2060}'] {
            assert_eq!(u(c), c.len_utf8(), "{:?}", c);
        }
        // Other General Punctuation: em dash, ellipsis, bullet, quotes.
        for c in ['\u{2014}', '\u{2026}', '\u{2022}', '\u{201c}', '\u{a1}'] {
            assert_eq!(u(c), 0, "{:?}", c);
        }
        for (r, n) in [
            (&b"&nbsp;1"[..], 6),
            (b"&NBSP;", 6),
            (b"&#32;", 5),
            (b"&#45;", 5),
            (b"&#160;", 6),
            (b"&#x20;", 6),
            (b"&#XA0;", 6),
            (b"&#x2d;", 6),
            (b"&nbsp", 0),
            (b"&#52;", 0),
            (b"&#1600;", 0),
            (b"&amp;", 0),
            (b"&", 0),
        ] {
            assert_eq!(separator_len(r, 0), n, "{:?}", String::from_utf8_lossy(r));
        }
        for (r, n) in [
            (&b"<br>1"[..], 4),
            (b"<BR/>", 5),
            (b"<br />", 6),
            (b"<Br >\r\n1", 7),
            (b"<br>\n\n", 5),
            (b"<br>\ndata: 1", 5),
            (b"<br  />", 0),
            (b"<b>", 0),
            (b"<brx>", 0),
            (b"<br", 0),
            (b"<p>", 0),
        ] {
            assert_eq!(separator_len(r, 0), n, "{:?}", String::from_utf8_lossy(r));
        }
    }

    #[test]
    fn full_width_digits_read_as_digits() {
        let mut buf = [0u8; 40];
        assert_eq!(
            digits("４１１１　1111－１１１１ 1111".as_bytes(), &mut buf),
            Some(&b"4111111111111111"[..])
        );
        let g: Vec<(usize, usize)> = digit_groups("１２a3４".as_bytes()).collect();
        assert_eq!(g, [(0, 6), (7, 11)]);
        assert_eq!(group_digits("１2３".as_bytes()), 3);
        assert!(card("４１１１１１１１１１１１１１１１".as_bytes()));
        assert!(!card("４１１１１１１１１１１１１１１２".as_bytes()));
        // Other Fullwidth Forms are neither digits nor separators.
        assert_eq!(digits("１２Ａ".as_bytes(), &mut buf), None);
        assert_eq!(digits("１\u{ff0b}２".as_bytes(), &mut buf), None);
    }

    #[test]
    fn digit_groups_skip_encoded_separators() {
        let g = |s: &[u8]| digit_groups(s).collect::<Vec<_>>();
        assert_eq!(
            g(b"4111%201111%2D11+1"),
            [(0, 4), (7, 11), (14, 16), (17, 18)]
        );
        assert_eq!(g("12\u{a0}34".as_bytes()), [(0, 2), (4, 6)]);
        assert_eq!(g(b"1 2"), [(0, 1), (2, 3)]);
        assert_eq!(g(b"%30x7"), [(1, 3), (4, 5)]);
        assert_eq!(g(b"12%2"), [(0, 2), (3, 4)]);
        assert_eq!(g(b""), []);
        assert_eq!(g(&[b'1', b' '].repeat(50)).len(), 50);
    }

    #[test]
    fn digit_count() {
        assert_eq!(ascii_digit_count(b""), 0);
        assert_eq!(ascii_digit_count(b"abc"), 0);
        assert_eq!(ascii_digit_count(b"4111 1111-x9"), 9);
        assert_eq!(ascii_digit_count("١٢٣".as_bytes()), 0); // non-ASCII digits
    }

    #[test]
    fn luhn_basics() {
        assert!(luhn(b"0"));
        assert!(luhn(b"18"));
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        assert!(!luhn(b""));
        assert!(!luhn(b"4111 1111 1111 1111"));
        assert!(!luhn(b"41111111111111a1"));
    }

    #[test]
    fn published_test_cards_are_valid() {
        for &(num, brand) in TEST_CARDS {
            assert!(luhn(num.as_bytes()), "luhn {num}");
            assert_eq!(card_brand(num.as_bytes()), Some(brand), "brand {num}");
            assert!(card(num.as_bytes()), "card {num}");
            assert!(card(grouped(num, ' ').as_bytes()), "spaced {num}");
            assert!(card(grouped(num, '-').as_bytes()), "dashed {num}");
        }
        assert!(card(b"3782 822463 10005")); // Amex 4-6-5 grouping
        assert!(card(b"4111.1111.1111.1111"));
        assert!(card(b"4111\t1111\t1111\t1111"));
        assert!(card(b"4111+1111+1111+1111"));
        assert!(card(b"4111%201111%201111%201111"));
        assert!(card(b"4111%2D1111%2d1111-1111"));
        assert!(card("4111\u{a0}1111\u{a0}1111\u{a0}1111".as_bytes()));
        assert!(!card(b"4111%2B1111%2B1111%2B1111"));
        assert!(!card(b"4111%201111%201111%201112"));
    }

    #[test]
    fn one_digit_changed_fails() {
        for &(num, _) in TEST_CARDS {
            // Changing any single digit always breaks Luhn.
            for pos in 0..num.len() {
                let mut b = num.as_bytes().to_vec();
                b[pos] = if b[pos] == b'9' { b'0' } else { b[pos] + 1 };
                assert!(!luhn(&b), "{num} pos {pos}");
                assert!(!card(&b), "{num} pos {pos}");
            }
        }
        assert!(!card(b"4111111111111112"));
        assert!(!card(b"5555555555554445"));
        assert!(!card(b"378282246310006"));
    }

    #[test]
    fn non_cards_rejected() {
        // Order and reference numbers with a card-like shape but no Luhn.
        assert!(!card(b"4000123456789012"));
        assert!(!card(b"5123-4567-8901-2345"));
        assert!(!card(b"6011 0000 0000 0000"));
        // Luhn-valid but unknown issuer prefix.
        assert!(!card(b"1234567812345670"));
        assert!(luhn(b"1234567812345670"));
        // Luhn-valid with known prefix but wrong length for the brand.
        assert!(luhn(b"411111111111111118")); // 18-digit Visa
        assert!(!card(b"411111111111111118"));
        // Too short / too long for any card.
        assert!(!card(b"411111111116"));
        assert!(!card(b"41111111111111111111"));
        // Bad bytes.
        assert!(!card(b"4111 1111 1111 111a"));
        assert!(!card(b"4111_1111_1111_1111"));
        assert!(!card(b""));
        // All-same digits: none of these is a real card whatever Luhn says.
        assert!(luhn(b"6666666666666"));
        assert!(!card(b"6666666666666"));
        assert!(!card(b"4444444444444444"));
        assert!(!card(b"0000000000000000"));
    }

    #[test]
    fn brand_prefix_and_length_edges() {
        let b = |s: &str| card_brand(s.as_bytes());
        // Visa lengths.
        assert_eq!(b("4000000000000"), Some(CardBrand::Visa));
        assert_eq!(b("4000000000000000000"), Some(CardBrand::Visa));
        assert_eq!(b("40000000000000"), None);
        assert_eq!(b("400000000000000"), None);
        assert_eq!(b("40000000000000000"), None);
        // Mastercard 2-series boundaries and length.
        assert_eq!(b("2220000000000000"), None);
        assert_eq!(b("2221000000000000"), Some(CardBrand::Mastercard));
        assert_eq!(b("2720990000000000"), Some(CardBrand::Mastercard));
        assert_eq!(b("2721000000000000"), None);
        assert_eq!(b("5000000000000000"), None);
        assert_eq!(b("5600000000000000"), None);
        assert_eq!(b("55000000000000000"), None);
        // Amex only at 15.
        assert_eq!(b("340000000000000"), Some(CardBrand::Amex));
        assert_eq!(b("3400000000000000"), None);
        assert_eq!(b("350000000000000"), None);
        // Discover pieces, incl. the UnionPay co-branded block.
        assert_eq!(b("6440000000000000"), Some(CardBrand::Discover));
        assert_eq!(b("6490000000000000"), Some(CardBrand::Discover));
        assert_eq!(b("6430000000000000"), None);
        assert_eq!(b("6500000000000000000"), Some(CardBrand::Discover));
        assert_eq!(b("650000000000000"), None);
        assert_eq!(b("6221260000000000"), Some(CardBrand::Discover));
        assert_eq!(b("6229250000000000"), Some(CardBrand::Discover));
        assert_eq!(b("6221250000000000"), Some(CardBrand::UnionPay));
        assert_eq!(b("6229260000000000"), Some(CardBrand::UnionPay));
        // JCB boundaries.
        assert_eq!(b("3527000000000000"), None);
        assert_eq!(b("3528000000000000"), Some(CardBrand::Jcb));
        assert_eq!(b("3589000000000000000"), Some(CardBrand::Jcb));
        assert_eq!(b("3590000000000000"), None);
        // Diners.
        assert_eq!(b("30000000000000"), Some(CardBrand::Diners));
        assert_eq!(b("30500000000000"), Some(CardBrand::Diners));
        assert_eq!(b("30600000000000"), None);
        assert_eq!(b("3900000000000000000"), Some(CardBrand::Diners));
        assert_eq!(b("3600000000000"), None);
        // Maestro, including its 12-digit minimum.
        assert_eq!(b("501800000000"), Some(CardBrand::Maestro));
        assert_eq!(b("50180000000"), None);
        assert_eq!(b("5020000000000000"), Some(CardBrand::Maestro));
        assert_eq!(b("5038000000000000"), Some(CardBrand::Maestro));
        assert_eq!(b("5893000000000000"), Some(CardBrand::Maestro));
        assert_eq!(b("6304000000000000"), Some(CardBrand::Maestro));
        assert_eq!(b("6761000000000000"), Some(CardBrand::Maestro));
        assert_eq!(b("6763000000000000"), Some(CardBrand::Maestro));
        assert_eq!(b("6764000000000000"), None);
        assert_eq!(b("5019000000000000"), None);
        // Non-digit input and empty input.
        assert_eq!(b("4111 1111 1111 1111"), None);
        assert_eq!(b(""), None);
        assert_eq!(b("4"), None);
    }

    // Made-up numbers for the brands added from the Wikipedia IIN table
    // (Mir, RuPay, Verve, Troy). Each check digit was computed for these
    // invented account digits; the "bad" numbers add one (mod 10) to it.

    #[test]
    fn mir_cards() {
        let b = |s: &str| card_brand(s.as_bytes());
        assert!(card(b"2200123456789019"));
        assert!(card(b"2200 1234 5678 9019"));
        assert_eq!(b("2200123456789019"), Some(CardBrand::Mir));
        assert!(card(b"2204987654321098763")); // 19 digits
        assert_eq!(b("2204987654321098763"), Some(CardBrand::Mir));
        // Luhn-valid, but 15 digits: Mir issues 16-19.
        assert!(luhn(b"220012345678907"));
        assert!(!card(b"220012345678907"));
        assert_eq!(b("220012345678907"), None);
        // Bad check digit.
        assert!(!card(b"2200123456789010"));
        // Just outside 2200-2204, Luhn-valid: no brand (Mastercard starts at 2221).
        assert!(!card(b"2199123456789012"));
        assert!(!card(b"2205123456789014"));
        assert_eq!(b("2205123456789014"), None);
    }

    #[test]
    fn rupay_cards() {
        let b = |s: &str| card_brand(s.as_bytes());
        for num in [
            "6080123456789015",
            "8100123456789017",
            "8299123456789018",
            "5080123456789017",
        ] {
            assert!(card(num.as_bytes()), "{num}");
            assert_eq!(b(num), Some(CardBrand::RuPay), "{num}");
        }
        // Luhn-valid, but RuPay issues only 16 digits.
        assert!(luhn(b"60801234567890124"));
        assert!(!card(b"60801234567890124"));
        assert!(!card(b"6080123456789012343"));
        assert!(!card(b"810012345678903"));
        // Bad check digit.
        assert!(!card(b"6080123456789016"));
        assert!(!card(b"8100123456789018"));
        assert!(!card(b"5080123456789018"));
    }

    #[test]
    fn verve_cards() {
        let b = |s: &str| card_brand(s.as_bytes());
        assert!(card(b"5061001234567892"));
        assert_eq!(b("5061001234567892"), Some(CardBrand::Verve));
        assert!(card(b"506100123456789010")); // 18 digits
        assert!(card(b"5079001234567890127")); // 19 digits
        assert_eq!(b("5079001234567890127"), Some(CardBrand::Verve));
        // Luhn-valid, but 17 digits: Verve issues 16, 18 and 19.
        assert!(luhn(b"50610012345678900"));
        assert!(!card(b"50610012345678900"));
        // Bad check digit.
        assert!(!card(b"5061001234567893"));
        // Range edges, all Luhn-valid.
        assert_eq!(b("5060991234567895"), Some(CardBrand::Verve));
        assert_eq!(b("5061981234567895"), Some(CardBrand::Verve));
        assert_eq!(b("5078651234567895"), Some(CardBrand::Verve));
        assert_eq!(b("5079641234567895"), Some(CardBrand::Verve));
        assert!(!card(b"5060981234567896"));
        assert!(!card(b"5061991234567894"));
        assert!(!card(b"5078641234567896"));
        assert!(!card(b"5079651234567894"));
    }

    #[test]
    fn troy_cards() {
        let b = |s: &str| card_brand(s.as_bytes());
        assert!(card(b"9792123456789018"));
        assert!(card(b"9792-1234-5678-9018"));
        assert_eq!(b("9792123456789018"), Some(CardBrand::Troy));
        // Luhn-valid, but Troy issues only 16 digits.
        assert!(luhn(b"979212345678906"));
        assert!(!card(b"979212345678906"));
        assert!(!card(b"97921234567890121"));
        // Bad check digit.
        assert!(!card(b"9792123456789019"));
        // Neighbouring prefixes, Luhn-valid: no brand.
        assert!(!card(b"9791123456789019"));
        assert!(!card(b"9793123456789017"));
    }

    #[test]
    fn brazilian_cards() {
        let b = |s: &str| card_brand(s.as_bytes());
        // Elo, all Luhn-valid 16-digit numbers: range edges and singles.
        for n in [
            "5041750000000018",
            "5066991234567899",
            "5067780000000006",
            "5090123456789015",
            "6362970000123458",
            "6363680000123452",
        ] {
            assert_eq!(b(n), Some(CardBrand::Elo), "{n}");
            assert!(card(n.as_bytes()), "{n}");
        }
        // Hiper.
        for n in [
            "6370950000123450",
            "6373742312345674",
            "6374335812345671",
            "6375680000123458",
            "6375990000123451",
            "6376090000123459",
            "6376120000123454",
        ] {
            assert_eq!(b(n), Some(CardBrand::Hiper), "{n}");
            assert!(card(n.as_bytes()), "{n}");
        }
        // Elo's ranges inside older brands keep those brands; Hipercard's
        // 606282 is RuPay's.
        assert_eq!(b("4011780000000006"), Some(CardBrand::Visa));
        assert_eq!(b("6500310000000005"), Some(CardBrand::Discover));
        assert_eq!(b("6277800000000006"), Some(CardBrand::UnionPay));
        assert_eq!(b("6062820000000003"), Some(CardBrand::RuPay));
        // Luhn-valid neighbours outside the ranges: no brand.
        for n in [
            "5041740000000019",
            "5041760000000017",
            "5066981234567890",
            "5067790000000005",
            "6362960000123459",
            "6370960000123459",
            "6373742212345675",
        ] {
            assert!(luhn(n.as_bytes()), "{n}");
            assert_eq!(b(n), None, "{n}");
            assert!(!card(n.as_bytes()), "{n}");
        }
        // Only 16 digits; bad check digit.
        assert!(luhn(b"509012345678909"));
        assert!(!card(b"509012345678909"));
        assert!(!card(b"5090123456789016"));
    }

    /// Prefixes the new brands share with older ones keep the older brand
    /// and its lengths.
    #[test]
    fn shared_prefixes_keep_existing_brand() {
        let b = |s: &str| card_brand(s.as_bytes());
        // Verve 650002-650027, RuPay and Troy 65: Discover.
        assert_eq!(b("6500101234567897"), Some(CardBrand::Discover));
        assert!(card(b"6500101234567897"));
        // 15 digits, Luhn-valid: still not a card, as before.
        assert!(!card(b"650012345678906"));
        // RuPay's 60 includes Discover's 6011.
        assert_eq!(b("6011123456789019"), Some(CardBrand::Discover));
        // RuPay-JCB 353 and 356: JCB.
        assert_eq!(b("3530123456789018"), Some(CardBrand::Jcb));
        assert_eq!(b("3560123456789011"), Some(CardBrand::Jcb));
        assert!(card(b"3530123456789018"));
        assert!(card(b"3560123456789011"));
    }

    /// Example IBANs from the SWIFT IBAN Registry / Wikipedia
    /// "International Bank Account Number", each checked to validate.
    const GOOD_IBANS: &[&str] = &[
        "GB82 WEST 1234 5698 7654 32",
        "GB29 NWBK 6016 1331 9268 19",
        "DE89 3704 0044 0532 0130 00",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
        "BE68539007547034",
        "CH9300762011623852957",
        "ES9121000418450200051332",
        "IT60X0542811101000000123456",
        "NO9386011117947",
        "MT84MALT011000012345MTLCAST001S",
        "PL61109010140000071219812874",
        "SE4550000000058398257466",
        "AT611904300234573201",
        "DK5000400440116243",
        "FI2112345600000785",
        "IE29AIBK93115212345678",
        "PT50000201231234567890154",
        "LU280019400644750000",
        "SA0380000000608010167519",
        "BR1800360305000010009795493C1",
        "AE070331234567890123456",
        "LC55HEMM000100010012001200023015",
        "RU0204452560040702810412345678901",
    ];

    #[test]
    fn iban_examples_validate() {
        for s in GOOD_IBANS {
            assert!(iban(s.as_bytes()), "{s}");
            assert!(iban(s.to_ascii_lowercase().as_bytes()), "lower {s}");
            assert!(iban(s.replace(' ', "-").as_bytes()), "dashed {s}");
        }
    }

    #[test]
    fn iban_rejections() {
        // Wrong check digits.
        assert!(!iban(b"GB83 WEST 1234 5698 7654 32"));
        assert!(!iban(b"DE88370400440532013000"));
        assert!(!iban(b"NL92ABNA0417164300"));
        // One BBAN character changed.
        assert!(!iban(b"DE89370400440532013001"));
        assert!(!iban(b"FR1420041010050500013M02607"));
        // Two adjacent characters swapped.
        assert!(!iban(b"DE89370400440532010300"));
        // Wrong length for the country (one char short / long).
        assert!(!iban(b"DE8937040044053201300"));
        assert!(!iban(b"DE893704004405320130000"));
        assert!(!iban(b"NO93860111179470"));
        // Unknown country code, digits in the country slot.
        assert!(!iban(b"XX89370400440532013000"));
        assert!(!iban(b"1289370400440532013000"));
        // Non-digit check digits, illegal bytes, too long for the buffer.
        assert!(!iban(b"DEAB370400440532013000"));
        assert!(!iban(b"DE89.3704.0044.0532.0130.00"));
        assert!(!iban(b"DE89_370400440532013000"));
        // Grouped with no-break or thin spaces, their HTML references or
        // `%20`: an IBAN; with other bytes between groups, not.
        assert!(iban(
            "DE89\u{a0}3704\u{a0}0044\u{a0}0532\u{a0}0130\u{a0}00".as_bytes()
        ));
        assert!(iban("DE89\u{202f}370400440532013000".as_bytes()));
        assert!(iban(b"GB82&nbsp;WEST&NBSP;1234&#160;5698&#xA0;7654&#32;32"));
        assert!(iban(b"DE89%203704%200044%200532%200130%2000"));
        assert!(!iban(b"DE89&amp;370400440532013000"));
        assert!(!iban(b"DE89%2B370400440532013000"));
        assert!(!iban(b"DE89\n370400440532013000"));
        assert!(!iban(b"DE8937040044053201300012345678901234567890"));
        assert!(!iban(b""));
        assert!(!iban(b"DE"));
        assert!(!iban(b"DE89"));
    }

    #[test]
    fn iban_check_digit_range() {
        // These BBANs have true check digits 97 and 98. Mod 97 alone would
        // also accept 00 and 01 in their place; ISO 13616 never issues those.
        assert!(iban(b"DE97370400440532013050"));
        assert!(!iban(b"DE00370400440532013050"));
        assert!(iban(b"DE98370400440532013032"));
        assert!(!iban(b"DE01370400440532013032"));
    }

    #[test]
    fn iban_table_is_sane() {
        // Every entry is within ISO 13616's bounds; spot-check the brief.
        let mut count = 0;
        for a in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                if let Some(len) = iban_length([a, c]) {
                    count += 1;
                    assert!((15..=IBAN_MAX).contains(&len), "{}{}", a as char, c as char);
                }
            }
        }
        assert_eq!(count, 89);
        assert_eq!(iban_length(*b"DE"), Some(22));
        assert_eq!(iban_length(*b"GB"), Some(22));
        assert_eq!(iban_length(*b"FR"), Some(27));
        assert_eq!(iban_length(*b"NL"), Some(18));
        assert_eq!(iban_length(*b"NO"), Some(15));
        assert_eq!(iban_length(*b"MT"), Some(31));
        assert_eq!(iban_length(*b"US"), None);
    }

    #[test]
    fn aba_valid() {
        assert!(aba(b"011000015")); // Federal Reserve Bank of Boston
        assert!(aba(b"021000021")); // JPMorgan Chase, NY
        assert!(aba(b"121000358")); // Bank of America, CA
        assert!(aba(b"322271627")); // Chase, CA (thrift range)
        assert!(aba(b"011 000 015"));
        assert!(aba(b"0110-0001-5"));
    }

    #[test]
    fn aba_invalid() {
        // Checksum broken by one digit.
        assert!(!aba(b"011000016"));
        assert!(!aba(b"021000022"));
        assert!(!aba(b"121000359"));
        // Wrong length.
        assert!(!aba(b"01100001"));
        assert!(!aba(b"0110000150"));
        // All zeros passes 3-7-1 but is not a routing number.
        assert!(!aba(b"000000000"));
        // Checksum-valid but first two digits outside the Fed ranges:
        // 13-20, 33-60, 73-79, 81-99.
        // (d9 is picked so that 3*d1 + 7*d2 + d9 is a multiple of 10.)
        assert!(!aba(b"130000006")); // 3 + 21 = 24, +6
        assert!(!aba(b"200000004")); // 6, +4
        assert!(!aba(b"500000005")); // 15, +5
        assert!(!aba(b"810000009")); // 24 + 7 = 31, +9
        assert!(!aba(b"900000003")); // 27, +3

        // Bad bytes.
        assert!(!aba(b"01100001x"));
        assert!(!aba(b""));
    }

    #[test]
    fn aba_prefix_ranges() {
        // Build a checksum-valid number for each two-digit prefix and make
        // sure exactly the Federal Reserve ranges are accepted.
        for p in 0u32..100 {
            let (a, b) = (p / 10, p % 10);
            // d1=a, d2=b, d3..d8=0, d9 chosen to make the sum ≡ 0 (mod 10).
            let partial = 3 * a + 7 * b;
            let d9 = (10 - partial % 10) % 10;
            let s = format!("{a}{b}000000{d9}");
            let expect = matches!(p, 0..=12 | 21..=32 | 61..=72 | 80) && s != "000000000";
            assert_eq!(aba(s.as_bytes()), expect, "{s}");
        }
    }

    #[test]
    fn ssn_valid() {
        assert!(ssn(b"123-45-6789")); // kept valid on purpose: common fixture
        assert!(ssn(b"123456789"));
        assert!(ssn(b"123 45 6789"));
        assert!(ssn(b"001-01-0001"));
        assert!(ssn(b"665-99-9999"));
        assert!(ssn(b"667-01-0001"));
        assert!(ssn(b"899-99-9999"));
        assert!(ssn(b"078-05-1121"));
        assert!(ssn(b"219-09-9998"));
        // Form and percent encoding (session 11 leak review).
        assert!(ssn(b"219+45+6789"));
        assert!(ssn(b"219%2D45%2D6789"));
        assert!(ssn(b"219%2d45%2d6789"));
        assert!(ssn(b"219%2045%206789"));
        // Unicode spaces and dashes, HTML references of a space or dash.
        assert!(ssn("219\u{a0}45\u{a0}6789".as_bytes()));
        assert!(ssn("219\u{2013}45\u{2013}6789".as_bytes()));
        assert!(ssn("219\u{2011}45\u{2011}6789".as_bytes()));
        assert!(ssn(b"219&nbsp;45&nbsp;6789"));
        assert!(ssn(b"219&#x2D;45&#x2D;6789"));
    }

    #[test]
    fn ssn_invalid() {
        // Area 000, 666, 900-999.
        assert!(!ssn(b"000-12-3456"));
        assert!(!ssn(b"666-12-3456"));
        assert!(!ssn(b"900-12-3456"));
        assert!(!ssn(b"999-12-3456"));
        assert!(!ssn(b"987654321"));
        // Group 00, serial 0000.
        assert!(!ssn(b"123-00-6789"));
        assert!(!ssn(b"123-45-0000"));
        // Voided, famously misused numbers.
        assert!(!ssn(b"078-05-1120"));
        assert!(!ssn(b"078051120"));
        assert!(!ssn(b"219-09-9999"));
        assert!(!ssn(b"219 09 9999"));
        // Shape: wrong grouping, mixed separators, other separators, length.
        assert!(!ssn(b"1234-5-6789"));
        assert!(!ssn(b"12-345-6789"));
        assert!(!ssn(b"123-45 6789"));
        assert!(!ssn(b"123.45.6789"));
        assert!(!ssn(b"123-456789"));
        assert!(!ssn(b"12345678"));
        assert!(!ssn(b"1234567890"));
        assert!(!ssn(b"123-45-678a"));
        assert!(!ssn(b"12a-45-6789"));
        // Encoded separators must match each other and be whole.
        assert!(!ssn(b"219%2D45-6789"));
        assert!(!ssn(b"219%2D45%2d6789"));
        assert!(!ssn(b"219%2D45%206789"));
        assert!(!ssn(b"219+45 6789"));
        assert!(!ssn(b"219%2B45%2B6789"));
        assert!(!ssn(b"219%3D45%3D6789"));
        assert!(!ssn(b"219%2D09%2D9999"));
        assert!(!ssn(b"666%2D45%2D6789"));
        assert!(!ssn("219\u{a0}45\u{2009}6789".as_bytes()));
        assert!(!ssn(b"219&nbsp;45&#160;6789"));
        assert!(!ssn(b"219&amp;45&amp;6789"));
        assert!(!ssn(b"219\t45\t6789"));
        assert!(!ssn(b"219  45  6789"));
        assert!(!ssn(b"219-45-67890"));
        assert!(!ssn(b"0219-45-6789"));
        assert!(!ssn(b""));
    }
}
