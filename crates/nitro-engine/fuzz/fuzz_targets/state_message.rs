#![no_main]

libfuzzer_sys::fuzz_target!(init: nitro_engine::fuzz::init(), |data: &[u8]| nitro_engine::fuzz::state_message(data));
