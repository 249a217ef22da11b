//! The C ABI (SPEC B17). The only module allowed to use `unsafe`.
#![allow(unsafe_code)]
