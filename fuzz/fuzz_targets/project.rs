#![no_main]

// The body lives in ksec::fuzzing, which tests/it/fuzz_corpus.rs replays.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ksec::fuzzing::project(data);
});
