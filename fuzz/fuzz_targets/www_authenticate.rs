//! `WWW-Authenticate` values from untrusted peers: parsing never panics, and whatever parses
//! renders and parses back to the same challenges.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scopeup_core::www_authenticate::{
    BearerChallenge, parse_challenges, parse_header_values, render_challenges,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = BearerChallenge::from_header(text);
    let _ = parse_header_values(text.split('\n'));

    if let Ok(challenges) = parse_challenges(text) {
        let rendered = render_challenges(&challenges);
        assert_eq!(
            parse_challenges(&rendered).as_ref(),
            Ok(&challenges),
            "{text:?} rendered as {rendered:?}"
        );
    }
});
