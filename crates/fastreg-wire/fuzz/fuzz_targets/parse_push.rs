//! Raw bytes into the push XML readers: whatever arrives, they return, never panic.
#![no_main]

use fastreg_wire::push::{Envelope, PushEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        if let Ok(event) = PushEvent::parse(xml) {
            // What was read must be written back into something that reads the same.
            if !matches!(event, PushEvent::Unknown { .. }) {
                let again = PushEvent::parse(&event.to_xml()).expect("written XML parses");
                assert_eq!(again, event);
            }
        }
        if let Ok(envelope) = Envelope::parse(xml) {
            let again = Envelope::parse(&envelope.to_xml()).expect("written envelope parses");
            assert_eq!(again, envelope);
        }
    }
});
