//! What the voice says: the call sentence from a template, with the ticket number read digit
//! by digit and the counter read as a Vietnamese number.

use unicode_normalization::UnicodeNormalization;

/// The default sentence; `{number}` and `{counter}` are filled in.
pub const DEFAULT_TEMPLATE: &str = "Mời công dân có số {number} đến quầy số {counter}";

const DIGITS: [&str; 10] = [
    "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
];

/// The words of a ticket number, one per character: `1005` → `một không không năm`.
/// Letters of a prefix are kept as they are, lower-cased.
pub fn spell_number(number: &str) -> Vec<String> {
    number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_digit(10) {
            Some(d) => DIGITS[d as usize].to_string(),
            None => c.to_lowercase().collect(),
        })
        .collect()
}

/// A number from 0 to 999 in Vietnamese words: 3 → `ba`, 15 → `mười lăm`, 21 → `hai mươi
/// mốt`, 105 → `một trăm linh năm`. Larger numbers are read digit by digit.
pub fn read_number(n: u32) -> Vec<String> {
    if n > 999 {
        return spell_number(&n.to_string());
    }
    let mut words: Vec<&str> = Vec::new();
    let (hundreds, tens, units) = (n / 100, n / 10 % 10, n % 10);
    if hundreds > 0 {
        words.extend([DIGITS[hundreds as usize], "trăm"]);
        if tens == 0 && units > 0 {
            words.push("linh");
        }
    }
    match tens {
        0 if hundreds == 0 || units > 0 => words.push(DIGITS[units as usize]),
        0 => {}
        1 => {
            words.push("mười");
            match units {
                0 => {}
                5 => words.push("lăm"),
                u => words.push(DIGITS[u as usize]),
            }
        }
        t => {
            words.extend([DIGITS[t as usize], "mươi"]);
            match units {
                0 => {}
                1 => words.push("mốt"),
                4 => words.push("tư"),
                5 => words.push("lăm"),
                u => words.push(DIGITS[u as usize]),
            }
        }
    }
    words.into_iter().map(str::to_string).collect()
}

/// The words of a call: the template with `{number}` spelled and `{counter}` read, NFC.
pub fn call_words(template: &str, number: &str, counter: u32) -> Vec<String> {
    let template: String = template.nfc().collect();
    let mut words = Vec::new();
    for word in template.split_whitespace() {
        match word {
            "{number}" => words.extend(spell_number(number)),
            "{counter}" => words.extend(read_number(counter)),
            w => words.push(w.to_string()),
        }
    }
    words
}

/// The sentence as one line of text.
pub fn call_sentence(template: &str, number: &str, counter: u32) -> String {
    call_words(template, number, counter).join(" ")
}

/// Checks a template: it must name `{number}` and `{counter}` and nothing else in braces.
pub fn check_template(template: &str) -> Result<(), String> {
    for needed in ["{number}", "{counter}"] {
        if !template.split_whitespace().any(|w| w == needed) {
            return Err(format!("the template must contain {needed} as a word"));
        }
    }
    if let Some(w) = template
        .split_whitespace()
        .find(|w| (w.contains('{') || w.contains('}')) && *w != "{number}" && *w != "{counter}")
    {
        return Err(format!("unknown placeholder {w:?} in the template"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(n: u32) -> String {
        read_number(n).join(" ")
    }

    /// Counter numbers read the way a Vietnamese speaker says them.
    #[test]
    fn counter_numbers_read_in_vietnamese() {
        let cases = [
            (0, "không"),
            (3, "ba"),
            (10, "mười"),
            (11, "mười một"),
            (14, "mười bốn"),
            (15, "mười lăm"),
            (20, "hai mươi"),
            (21, "hai mươi mốt"),
            (24, "hai mươi tư"),
            (25, "hai mươi lăm"),
            (99, "chín mươi chín"),
            (100, "một trăm"),
            (105, "một trăm linh năm"),
            (110, "một trăm mười"),
            (115, "một trăm mười lăm"),
            (121, "một trăm hai mươi mốt"),
            (999, "chín trăm chín mươi chín"),
        ];
        for (n, words) in cases {
            assert_eq!(said(n), words, "{n}");
        }
    }

    /// The default sentence spells the ticket and reads the counter.
    #[test]
    fn call_sentence_spells_the_ticket() {
        assert_eq!(
            call_sentence(DEFAULT_TEMPLATE, "1005", 3),
            "Mời công dân có số một không không năm đến quầy số ba"
        );
        assert_eq!(
            call_sentence("Số {number} mời đến quầy {counter}", "A12", 12),
            "Số a một hai mời đến quầy mười hai"
        );
    }

    /// A decomposed template comes out composed (NFC), so clips and fonts find the letters.
    #[test]
    fn template_is_normalized() {
        let decomposed = "Mo\u{300}i {number} {counter}";
        assert_eq!(call_sentence(decomposed, "1", 1), "Mòi một một");
    }

    /// Templates without both placeholders, or with unknown ones, are refused.
    #[test]
    fn bad_templates_are_refused() {
        assert!(check_template(DEFAULT_TEMPLATE).is_ok());
        assert!(check_template("Mời số {number}").is_err());
        assert!(check_template("{number} {counter} {name}").is_err());
    }
}
