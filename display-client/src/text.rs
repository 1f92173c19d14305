//! Text: the embedded DejaVu Sans (egui's own font lacks ệ ữ ợ …) and NFC normalization, so
//! a decomposed mark never lands on the wrong letter.

use std::sync::Arc;

use egui::{FontData, FontDefinitions, FontFamily};
use unicode_normalization::UnicodeNormalization;

/// DejaVu Sans (Bitstream Vera licence with public-domain changes; see assets/).
pub const REGULAR: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
/// DejaVu Sans Bold, for the numbers people read from across the room.
pub const BOLD: &[u8] = include_bytes!("../assets/DejaVuSans-Bold.ttf");

/// The family name of the bold face.
pub const BOLD_FAMILY: &str = "bold";

/// Makes DejaVu Sans the only font of `ctx` (regular for text, bold for numbers). Call it on
/// every context that draws the screen, tests included.
pub fn install_fonts(ctx: &egui::Context) {
    let mut fonts = FontDefinitions::empty();
    fonts
        .font_data
        .insert("dejavu".into(), Arc::new(FontData::from_static(REGULAR)));
    fonts
        .font_data
        .insert("dejavu-bold".into(), Arc::new(FontData::from_static(BOLD)));
    fonts
        .families
        .insert(FontFamily::Proportional, vec!["dejavu".into()]);
    fonts
        .families
        .insert(FontFamily::Monospace, vec!["dejavu".into()]);
    fonts.families.insert(
        FontFamily::Name(BOLD_FAMILY.into()),
        vec!["dejavu-bold".into(), "dejavu".into()],
    );
    ctx.set_fonts(fonts);
}

/// The string in Unicode NFC.
pub fn nfc(text: &str) -> String {
    text.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decomposed Vietnamese becomes composed: one code point per letter with its marks.
    #[test]
    fn decomposed_text_is_composed() {
        let decomposed = "Qua\u{302}\u{300}y";
        assert_eq!(nfc(decomposed), "Quầy");
        assert_eq!(nfc(decomposed).chars().count(), 4);
    }
}
