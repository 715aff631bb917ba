//! Unit tests of the pure render: projects parsed from text, inputs built in
//! memory, no file or process I/O.

use super::*;
