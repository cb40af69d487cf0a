//! DisCal's HTTP gateway (axum): ICS, JSCalendar and Atom feeds, CalDAV read access and
//! embeddable HTML views, all read from `discal-store` and never from the node's internals.
//!
//! Not built yet: this crate is a placeholder in the workspace layout until the gateway issues
//! land. It depends on the store only, which is the direction the architecture requires.
